/**
 * A fleet of MQTT 3.1.1 devices in one load process, as cheap as a client can be: raw
 * `node:net` sockets and packets encoded once, no MQTT library, so 5,000 of them cost this
 * process little and the broker's side of the measurement is the broker's. Each device
 * connects (clean session), subscribes at QoS 0 to its own topic `<prefix>/<n>` and waits
 * for one message there; one more connection publishes to every device's topic on request.
 *
 * Protocol with the parent (worker-ipc.ts): `start` (ready at once), `connect` (answered once
 * every device is subscribed or has failed: { held, failed }), `publish` (answered once the
 * publisher's packets are written: { sent }), `count` ({ held, received, failed, lost, unexpected }),
 * `stop`. Used by the bench (mqtt-scenarios.ts) and by test/e2e/mqtt-fleet.test.ts.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { serveJobs } from './worker-ipc.js';

export interface FleetJob {
  kind: 'mqtt-fleet';
  host: string;
  port: number;
  /**
   * Source address of this process's sockets (127.0.0.x): each has its own ports. With it,
   * device n binds port 10000 + n there: a bind to port 0 searches the address's used and
   * TIME_WAIT ports in the kernel, which took two thirds of this process's time at 5,000.
   */
  localAddress?: string;
  count: number;
  /** Client ids are `<prefix>-<n>`, topics `<prefix>/<n>`. */
  prefix: string;
  /** Connects in progress at once (each until its SUBACK). */
  concurrency: number;
  username?: string;
  password?: string;
  /** Seconds; the devices send no PINGREQ, so a run must end before 1.5 times this. */
  keepalive?: number;
}

const utf8 = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
};

function packet(byte0: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([byte0, ...len]), body]);
}

function connectPacket(job: FleetJob, clientId: string): Buffer {
  const user = job.username !== undefined;
  // Clean session (0x02), plus username and password when given.
  const flags = 0x02 | (user ? 0xc0 : 0);
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(job.keepalive ?? 600);
  return packet(
    0x10,
    utf8('MQTT'),
    Buffer.from([4, flags]),
    keepalive,
    utf8(clientId),
    ...(user ? [utf8(job.username!), utf8(job.password ?? '')] : []),
  );
}

const subscribePacket = (topic: string): Buffer =>
  packet(0x82, Buffer.from([0, 1]), utf8(topic), Buffer.from([0]));
const publishPacket = (topic: string): Buffer => packet(0x30, utf8(topic), Buffer.from('ping'));

/** Splits a socket's bytes into packets: calls onPacket(first byte, body). */
function reader(onPacket: (byte0: number, body: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      let len = 0;
      let mult = 1;
      let i = 1;
      for (;;) {
        if (i >= buf.length) return;
        const b = buf[i++]!;
        len += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) break;
      }
      if (buf.length < i + len) return;
      onPacket(buf[0]!, buf.subarray(i, i + len));
      buf = buf.subarray(i + len);
    }
  };
}

/** Below Linux's ephemeral range (32768-60999), where the brokers' own ports are. */
const FIRST_LOCAL_PORT = 10_000;

let held = 0;
let failed = 0;
let received = 0;
/** Devices whose socket closed after they were subscribed. */
let lost = 0;
/** Messages a device did not expect: a second one, or another device's. */
let unexpected = 0;
const sockets: Socket[] = [];
let job: FleetJob | undefined;

function device(j: FleetJob, n: number, done: (ok: boolean) => void): void {
  const topic = `${j.prefix}/${n}`;
  const s = tcpConnect({
    host: j.host,
    port: j.port,
    ...(j.localAddress ? { localAddress: j.localAddress, localPort: FIRST_LOCAL_PORT + n } : {}),
  });
  sockets.push(s);
  let state: 'connecting' | 'subscribing' | 'held' | 'gone' = 'connecting';
  let got = false;
  const finish = (ok: boolean): void => {
    if (state === 'connecting' || state === 'subscribing') done(ok);
  };
  s.setNoDelay(true);
  s.on('connect', () => s.write(connectPacket(j, `${j.prefix}-${n}`)));
  s.on(
    'data',
    reader((byte0, body) => {
      const type = byte0 >> 4;
      if (type === 2 && state === 'connecting') {
        if (body[1] !== 0) return void s.destroy(); // refused: CONNACK return code
        state = 'subscribing';
        s.write(subscribePacket(topic));
      } else if (type === 9 && state === 'subscribing') {
        if (body[2] === 0x80) return void s.destroy();
        held++;
        done(true);
        state = 'held';
      } else if (type === 3) {
        const len = body.readUInt16BE(0);
        if (state === 'held' && !got && body.toString('utf8', 2, 2 + len) === topic) {
          got = true;
          received++;
        } else unexpected++;
      }
    }),
  );
  s.on('error', () => {});
  s.on('close', () => {
    if (state === 'held') lost++;
    else finish(false);
    state = 'gone';
  });
}

function connectAll(j: FleetJob): void {
  let next = 0;
  let settled = 0;
  const one = (): void => {
    if (next >= j.count) return;
    device(j, next++, (ok) => {
      if (!ok) failed++;
      if (++settled === j.count) process.send!({ held, failed });
      else one();
    });
  };
  for (let i = 0; i < Math.min(j.concurrency, j.count); i++) one();
}

/** One more connection publishes one QoS 0 message to every device's topic, then stays open. */
function publishAll(j: FleetJob): void {
  const s = tcpConnect({
    host: j.host,
    port: j.port,
    ...(j.localAddress ? { localAddress: j.localAddress } : {}),
  });
  sockets.push(s);
  s.on('error', (err) => process.send!({ error: `publisher: ${err.message}` }));
  s.on('connect', () => s.write(connectPacket(j, `${j.prefix}-publisher`)));
  s.on(
    'data',
    reader((byte0, body) => {
      if (byte0 >> 4 !== 2) return;
      if (body[1] !== 0) return void process.send!({ error: `publisher refused: CONNACK ${body[1]}` });
      const all: Buffer[] = [];
      for (let n = 0; n < j.count; n++) all.push(publishPacket(`${j.prefix}/${n}`));
      s.write(Buffer.concat(all), () => process.send!({ sent: j.count }));
    }),
  );
}

serveJobs<FleetJob>({
  run: (j) => {
    job = j;
    return Promise.resolve();
  },
  readyWhenRun: () => true,
  answer(cmd) {
    // `connect` and `publish` are answered later, by connectAll and publishAll.
    if (cmd === 'connect') connectAll(job!);
    else if (cmd === 'publish') publishAll(job!);
    else if (cmd === 'count') return { held, received, failed, lost, unexpected };
    return undefined;
  },
  stop() {
    for (const s of sockets) s.destroy();
  },
});
