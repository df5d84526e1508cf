/**
 * The memory store's streams: segments are arrays in the process. The state lives in the
 * MemoryStore, not in the log, so closing a log and opening the stream again finds it as it
 * was (what the contract tests check for every store).
 */
import type { StreamEntry, StreamSettings } from './stream-log.js';
import type { StreamSegment } from './stream-segments.js';
import type { SizedStreamEntry, StreamWrite } from './segmented-stream-log.js';
import { SegmentedStreamLog } from './segmented-stream-log.js';

/** Bytes an entry counts for in memory: its body and names plus a fixed share for properties and the index. */
const ENTRY_OVERHEAD = 64;

export interface MemoryStreamState {
  readonly segments: Map<number, { row: StreamSegment; entries: SizedStreamEntry[] }>;
  nextOffset: number;
  readonly producers: Map<string, number>;
  readonly consumers: Map<string, number>;
}

export function emptyMemoryStream(): MemoryStreamState {
  return { segments: new Map(), nextOffset: 0, producers: new Map(), consumers: new Map() };
}

export class MemoryStreamLog extends SegmentedStreamLog<SizedStreamEntry & { byteLength: number }> {
  constructor(
    settings: StreamSettings,
    private readonly state: MemoryStreamState,
    private readonly onClose: () => void,
  ) {
    super(settings, {
      segments: [...state.segments.values()].map((s) => s.row).sort((a, b) => a.id - b.id),
      nextOffset: state.nextOffset,
      producers: state.producers,
      consumers: state.consumers,
    });
  }

  protected encode(entry: StreamEntry): SizedStreamEntry & { byteLength: number } {
    const m = entry.message;
    const bytes =
      m.body.length + Buffer.byteLength(m.exchange) + Buffer.byteLength(m.routingKey) + ENTRY_OVERHEAD;
    return { entry, bytes, byteLength: bytes };
  }

  protected async write(w: StreamWrite<SizedStreamEntry & { byteLength: number }>): Promise<void> {
    for (const p of w.pieces) {
      const s = this.state.segments.get(p.segment.id);
      if (s) {
        s.row = p.segment;
        s.entries.push(...p.entries);
      } else this.state.segments.set(p.segment.id, { row: p.segment, entries: [...p.entries] });
      this.state.nextOffset = p.segment.nextOffset;
    }
    for (const [name, seq] of w.producers) this.state.producers.set(name, seq);
  }

  protected async readSegment(
    segment: StreamSegment,
    from: number,
    maxCount: number,
  ): Promise<SizedStreamEntry[]> {
    const entries = this.state.segments.get(segment.id)?.entries ?? [];
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[mid]!.entry.offset < from) lo = mid + 1;
      else hi = mid;
    }
    const out: SizedStreamEntry[] = [];
    for (let i = lo; i < entries.length && out.length < maxCount; i++) {
      const e = entries[i]!;
      if (e.entry.offset >= segment.nextOffset) break;
      out.push(e);
    }
    return out;
  }

  protected async deleteSegments(segments: readonly StreamSegment[]): Promise<void> {
    for (const s of segments) this.state.segments.delete(s.id);
  }

  protected async dropEntries(segment: StreamSegment, offsets: readonly number[]): Promise<void> {
    const s = this.state.segments.get(segment.id);
    if (!s) return;
    const dropped = new Set(offsets);
    s.entries = s.entries.filter((e) => !dropped.has(e.entry.offset));
    s.row = segment;
  }

  protected async writeConsumerOffset(name: string, offset: number): Promise<void> {
    this.state.consumers.set(name, offset);
  }

  protected async release(): Promise<void> {
    this.onClose();
  }
}
