/**
 * CONNECT through mqtt-packet with one parser for the whole adapter. A parser is an
 * EventEmitter holding a `bl` stream (a Duplex with its two stream states): building one per
 * CONNECT was ~4% of the broker's time when a fleet of devices connects, and garbage for the
 * collector after. A parser is reused only when its last packet ended cleanly: after an error,
 * or bytes it did not finish, the next CONNECT gets a fresh one.
 */
import mqttPacket from 'mqtt-packet';

let parser: mqttPacket.Parser | undefined;
let parsed: mqttPacket.Packet | undefined;
let failure: Error | undefined;

function freshParser(): mqttPacket.Parser {
  const p = mqttPacket.parser();
  p.on('packet', (packet: mqttPacket.Packet) => (parsed = packet));
  p.on('error', (err: Error) => (failure = err));
  return p;
}

/** Decodes one whole packet (fixed header included): the packet, or mqtt-packet's error. */
export function decodeWhole(whole: Buffer): { packet?: mqttPacket.Packet; error?: Error } {
  const p = (parser ??= freshParser());
  parsed = undefined;
  failure = undefined;
  const left = p.parse(whole);
  const packet = parsed;
  const error = failure;
  parsed = undefined;
  failure = undefined;
  if (error !== undefined || packet === undefined || left !== 0) parser = undefined;
  return error !== undefined ? { error } : { packet };
}
