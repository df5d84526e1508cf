/**
 * --mqtt-ws-origins and --stomp-ws-origins reach the WebSocket listeners (issue 14): by
 * default a browser page from another site is refused (403) on MQTT and STOMP over
 * WebSocket; a list accepts exactly the origins it names, `any` every page. Upgrades are
 * plain HTTP requests with the headers a browser sends.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startBroker, type BrokerHandle } from '../src/index.js';

/** The upgrade's answer: 101 (switched to WebSocket) or the refusal's status. */
function upgrade(port: number, subprotocol: string, origin: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/ws',
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-protocol': subprotocol,
        ...(origin !== undefined ? { origin } : {}),
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode!);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

async function withBroker(flags: Record<string, string>, test: (b: BrokerHandle) => Promise<void>) {
  const b = await startBroker({ ports: { mqttWs: 0, stompWs: 0 }, config: loadConfig({ flags }) });
  try {
    await test(b);
  } finally {
    await b.close();
  }
}

describe('WebSocket Origin settings', () => {
  it('default: only pages from the broker’s own host, and clients without an Origin', async () => {
    await withBroker({}, async (b) => {
      for (const [port, proto] of [
        [b.ports.mqttWs!, 'mqtt'],
        [b.ports.stompWs!, 'v12.stomp'],
      ] as const) {
        expect(await upgrade(port, proto, 'https://evil.example'), proto).toBe(403);
        expect(await upgrade(port, proto, `http://127.0.0.1:${port}`), proto).toBe(101);
        expect(await upgrade(port, proto, undefined), proto).toBe(101);
      }
    });
  });

  it('a list accepts the origins it names and no other; any accepts every page', async () => {
    const flags = {
      'mqtt-ws-origins': 'https://app.example:8443, https://ops.example',
      'stomp-ws-origins': 'any',
    };
    await withBroker(flags, async (b) => {
      const mqttWs = b.ports.mqttWs!;
      expect(await upgrade(mqttWs, 'mqtt', 'https://app.example:8443')).toBe(101);
      expect(await upgrade(mqttWs, 'mqtt', 'https://ops.example')).toBe(101);
      expect(await upgrade(mqttWs, 'mqtt', 'https://app.example')).toBe(403);
      expect(await upgrade(mqttWs, 'mqtt', `http://127.0.0.1:${mqttWs}`)).toBe(403);
      expect(await upgrade(b.ports.stompWs!, 'v12.stomp', 'https://evil.example')).toBe(101);
    });
  });

  it('refuses a value that is not an origin, naming the setting', () => {
    for (const v of ['https://app.example/path', 'app.example', 'https://app.example,'])
      expect(() => loadConfig({ flags: { 'stomp-ws-origins': v } }), v).toThrow(
        /--stomp-ws-origins: expected/,
      );
    expect(() => loadConfig({ env: { JUNCTION_MQTT_WS_ORIGINS: '*' } })).toThrow(/JUNCTION_MQTT_WS_ORIGINS/);
  });
});
