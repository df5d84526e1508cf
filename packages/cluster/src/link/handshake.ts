/**
 * The node link's handshake: both sides send HELLO at once, each proves it knows the cluster
 * secret over the other's fresh nonce, each says READY once it verified the other's proof.
 *
 *   HELLO body:  "JNCL" | u16 version | u32 max frame bytes | 32-byte nonce | node id (UTF-8)
 *   PROOF body:  HMAC-SHA256(secret, "junction node link proof" | len+sender HELLO | len+receiver HELLO)
 *
 * The proof covers both HELLOs whole (ids, versions, limits, both nonces), sender's first, so a
 * proof is good for one direction of one connection only: replaying it elsewhere, or reflecting
 * a node's own proof back at it, fails (a peer claiming the verifier's own id is refused before).
 * The magic and the version come first and stay where they are in every version, so a node
 * can always tell "not a node link" and "another version" apart and say which.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { checkNodeId } from '../keys.js';

/** Bump on any incompatible change of frames or handshake; mismatched nodes refuse each other. */
export const LINK_PROTOCOL_VERSION = 1;
const MAGIC = Buffer.from('JNCL');
const NONCE_BYTES = 32;
const FIXED_BYTES = MAGIC.length + 2 + 4 + NONCE_BYTES;
const PROOF_LABEL = Buffer.from('junction node link proof');
export const PROOF_BYTES = 32;
/** Largest handshake frame a node reads before authentication (a HELLO with a 64-byte id is ~110). */
export const HANDSHAKE_MAX_FRAME_BYTES = 512;

export interface Hello {
  version: number;
  maxFrameBytes: number;
  nodeId: string;
  nonce: Buffer;
}

/** A handshake the node refuses; `reason` is logged here and sent to the peer in REFUSE. */
export class Refusal extends Error {}

export function encodeHello(h: Hello): Buffer {
  const id = Buffer.from(h.nodeId, 'utf8');
  const b = Buffer.allocUnsafe(FIXED_BYTES + id.length);
  MAGIC.copy(b, 0);
  b.writeUInt16BE(h.version, 4);
  b.writeUInt32BE(h.maxFrameBytes, 6);
  h.nonce.copy(b, 10);
  id.copy(b, FIXED_BYTES);
  return b;
}

export function decodeHello(body: Buffer): Hello {
  if (body.length < 6 || !body.subarray(0, 4).equals(MAGIC)) {
    throw new Refusal('not a Junction node link (bad HELLO magic)');
  }
  const version = body.readUInt16BE(4);
  if (version !== LINK_PROTOCOL_VERSION) {
    throw new Refusal(
      `node link protocol version mismatch: peer speaks ${version}, this node ${LINK_PROTOCOL_VERSION}`,
    );
  }
  if (body.length <= FIXED_BYTES) throw new Refusal('malformed HELLO (too short)');
  const nodeId = body.subarray(FIXED_BYTES).toString('utf8');
  try {
    checkNodeId(nodeId);
  } catch (err) {
    throw new Refusal(`malformed HELLO: ${(err as Error).message}`);
  }
  return {
    version,
    maxFrameBytes: body.readUInt32BE(6),
    nonce: Buffer.from(body.subarray(10, FIXED_BYTES)),
    nodeId,
  };
}

/**
 * One side of one connection's handshake: our HELLO, then the peer's HELLO and PROOF checked.
 * Pure (no I/O), so the connection decides what goes on the wire and when.
 */
export class Handshake {
  readonly hello: Buffer;
  private peerHelloBody: Buffer | undefined;
  peer: Hello | undefined;

  constructor(
    private readonly secret: Buffer,
    private readonly nodeId: string,
    maxFrameBytes: number,
    /** The id the dialer expects to reach; undefined on accepted connections. */
    private readonly expectPeer: string | undefined,
  ) {
    this.hello = encodeHello({
      version: LINK_PROTOCOL_VERSION,
      maxFrameBytes,
      nodeId,
      nonce: randomBytes(NONCE_BYTES),
    });
  }

  /** The peer's HELLO: checked, and our PROOF for it returned. Throws Refusal. */
  onHello(body: Buffer): Buffer {
    if (this.peerHelloBody) throw new Refusal('second HELLO');
    const peer = decodeHello(body);
    if (peer.nodeId === this.nodeId) throw new Refusal(`peer claims this node's own id '${peer.nodeId}'`);
    if (this.expectPeer !== undefined && peer.nodeId !== this.expectPeer) {
      throw new Refusal(`dialed node '${this.expectPeer}' but '${peer.nodeId}' answered`);
    }
    this.peerHelloBody = Buffer.from(body);
    this.peer = peer;
    return proof(this.secret, this.hello, this.peerHelloBody);
  }

  /** The peer's PROOF, checked in constant time. Throws Refusal. */
  onProof(body: Buffer): void {
    if (!this.peerHelloBody) throw new Refusal('PROOF before HELLO');
    const expected = proof(this.secret, this.peerHelloBody, this.hello);
    if (body.length !== PROOF_BYTES || !timingSafeEqual(body, expected)) {
      throw new Refusal('authentication failed: the peer does not have this cluster secret');
    }
  }
}

function proof(secret: Buffer, senderHello: Buffer, receiverHello: Buffer): Buffer {
  const len = (b: Buffer): Buffer => {
    const l = Buffer.allocUnsafe(2);
    l.writeUInt16BE(b.length, 0);
    return l;
  };
  return createHmac('sha256', secret)
    .update(PROOF_LABEL)
    .update(len(senderHello))
    .update(senderHello)
    .update(len(receiverHello))
    .update(receiverHello)
    .digest();
}
