import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { fileURLToPath } from 'node:url';
import { rawClient, runPython, until, type RawClient, type TestServer } from '@junction/testkit';

/** mqtt.js with test defaults: guest, no reconnects. */
export function client(server: TestServer, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(server.url, {
    username: 'guest',
    password: 'guest',
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  });
}

/** Connects with collection already on: a resumed session's backlog arrives right after CONNACK. */
export async function resumed(server: TestServer, opts: IClientOptions): Promise<[MqttClient, Received[]]> {
  const c = mqtt.connect(server.url, { username: 'guest', password: 'guest', reconnectPeriod: 0, ...opts });
  const got = collect(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return [c, got];
}

export interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  dup: boolean;
}

/** Collects every message a client receives. */
export function collect(c: MqttClient): Received[] {
  const out: Received[] = [];
  c.on('message', (topic, payload, packet) =>
    out.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, dup: packet.dup }),
  );
  return out;
}

/** A CONNECT packet (MQTT 3.1.1) built by hand, for raw-socket tests. */
export function connectPacket(opts: {
  clientId: string;
  keepalive?: number;
  username?: string;
  password?: string;
  clean?: boolean;
  will?: { topic: string; payload: string };
}): Buffer {
  const str = (s: string): Buffer => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  };
  let flags = opts.clean === false ? 0 : 2;
  const payload = [str(opts.clientId)];
  if (opts.will) {
    flags |= 4;
    payload.push(str(opts.will.topic), str(opts.will.payload));
  }
  if (opts.username !== undefined) {
    flags |= 0x80;
    payload.push(str(opts.username));
  }
  if (opts.password !== undefined) {
    flags |= 0x40;
    payload.push(str(opts.password));
  }
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(opts.keepalive ?? 0);
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, flags]), ka, ...payload]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A raw MQTT 5 connection: sends bytes or mqtt-packet packets, parses what the server sends. */
export interface Raw5 {
  raw: RawClient;
  /** Every packet received so far, parsed as MQTT 5. */
  packets: mqttPacket.Packet[];
  send(p: mqttPacket.Packet | Buffer): void;
  /** The first received packet of a kind (waits for it). */
  next(cmd: mqttPacket.PacketCmd): Promise<mqttPacket.Packet>;
}

export async function raw5(port: number): Promise<Raw5> {
  const packets: mqttPacket.Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on('packet', (p: mqttPacket.Packet) => packets.push(p));
  const raw = await rawClient(port, (chunk) => parser.parse(chunk));
  return {
    raw,
    packets,
    send: (p) => raw.write(Buffer.isBuffer(p) ? p : mqttPacket.generate(p, { protocolVersion: 5 })),
    next: (cmd) =>
      until(() => packets.find((p) => p.cmd === cmd), `an MQTT 5 ${cmd.toUpperCase()} from the server`),
  };
}

/**
 * An MQTT 5 CONNECT as guest with the given property block bytes (may be invalid on purpose),
 * Clean Start unless `clean` is false.
 */
export function connect5(propertyBytes: Buffer, clientId = '', clean = true): Buffer {
  const str = (s: string): Buffer => Buffer.concat([Buffer.from([0, Buffer.byteLength(s)]), Buffer.from(s)]);
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([5, clean ? 0xc2 : 0xc0, 0, 0]), // level 5; username, password, clean start; keepalive 0
    remainingLength(propertyBytes.length),
    propertyBytes,
    str(clientId),
    str('guest'),
    str('guest'),
  ]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** The packet a connected MQTT 5 client is told to go away with: DISCONNECT, and the socket closed. */
export async function disconnectedWith(c: Raw5): Promise<number | undefined> {
  const d = (await c.next('disconnect')) as mqttPacket.IDisconnectPacket;
  await c.raw.closed;
  return d.reasonCode;
}

/** A raw MQTT 5 client connected as guest (CONNACK 0 checked). */
export async function connectedRaw5(port: number, keepalive = 0): Promise<Raw5> {
  const c = await raw5(port);
  c.send({
    cmd: 'connect',
    protocolVersion: 5,
    clientId: '',
    keepalive,
    username: 'guest',
    password: Buffer.from('guest'),
  });
  const ack = (await c.next('connack')) as mqttPacket.IConnackPacket;
  if (ack.reasonCode !== 0) throw new Error(`CONNACK ${ack.reasonCode}`);
  return c;
}

/** What paho (MQTT 5) saw in CONNACK for each case: an Authentication Method and data, or {} for guest. */
export function pahoConnacks(
  port: number,
  cases: readonly { method?: string; data?: string }[],
): Promise<unknown> {
  const script = fileURLToPath(new URL('./clients/paho_connack.py', import.meta.url));
  return runPython(script, [String(port), JSON.stringify(cases)]);
}
