/**
 * The framing and durability discipline of the embedded store's append-only files, shared by
 * the message log (segments.ts) and stream segments (stream-files.ts).
 *
 * A frame is u32 payload length, u32 CRC-32 of the payload, the payload (little-endian).
 * Reading a file back stops at the first frame that is short or fails its CRC: the tail an
 * interrupted write left, never durable, so never confirmed.
 *
 * Files are opened with O_DSYNC: a positional write returns once its bytes are durable, in
 * one trip to the thread pool (write then fdatasync took two, and each trip waits for the
 * broker's event loop to come back to it). A new file's name is durable only once its
 * directory is fsynced.
 */
import { closeSync, constants, fsyncSync, openSync, readSync, write } from 'node:fs';
import { crc32 } from 'node:zlib';

/** Bytes of a frame header: payload length u32, CRC-32 u32. */
export const FRAME_HEADER = 8;

/** Writes the header of the frame whose payload of `length` bytes is at buf[at + FRAME_HEADER]; returns its CRC. */
export function sealFrame(buf: Buffer, at: number, length: number): number {
  const crc = crc32(buf.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length));
  buf.writeUInt32LE(length, at);
  buf.writeUInt32LE(crc, at + 4);
  return crc;
}

/**
 * Visits the frames of buf[0, length) in order (payload views, valid while buf is) until one
 * is short or fails its CRC, or visit returns false; returns where the frames visited end.
 */
export function scanFrames(
  buf: Buffer,
  length: number,
  visit: (payload: Buffer, at: number, crc: number) => boolean | void,
): number {
  let p = 0;
  while (p + FRAME_HEADER <= length) {
    const size = buf.readUInt32LE(p);
    const crc = buf.readUInt32LE(p + 4);
    const end = p + FRAME_HEADER + size;
    if (size === 0 || end > length) break;
    const payload = buf.subarray(p + FRAME_HEADER, end);
    if (crc32(payload) !== crc) break;
    if (visit(payload, p, crc) === false) break;
    p = end;
  }
  return p;
}

/** Reads into buf from `position` until it is full or the file ends; returns the bytes read. */
export function readFully(fd: number, buf: Buffer, position: number, length = buf.length): number {
  let got = 0;
  while (got < length) {
    const r = readSync(fd, buf, got, length - got, position + got);
    if (r === 0) break;
    got += r;
  }
  return got;
}

/** Writes buf[0, length) at `position`, resuming short writes; durable on return for an O_DSYNC file. */
export async function writeFully(fd: number, buf: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    done += await new Promise<number>((resolve, reject) =>
      write(fd, buf, done, length - done, position + done, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}

/** A new, empty append-only file (an existing one of that name is emptied). */
export function createDurableFile(path: string): number {
  return openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC);
}

/** An existing append-only file, to go on appending to it. */
export function reopenDurableFile(path: string): number {
  return openSync(path, constants.O_RDWR | constants.O_DSYNC);
}

/** Makes the names of files created in `dir` durable. */
export function fsyncDirectory(dir: string): void {
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
