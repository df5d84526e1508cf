import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { TestServer } from '@junction/testkit';

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
