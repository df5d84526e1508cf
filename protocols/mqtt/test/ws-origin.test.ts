/**
 * MQTT over WebSocket checks the browser's Origin (issue 14): a page on another site cannot
 * open an MQTT session with the visitor's network position (loopback, the LAN). By default
 * only the broker's own host is accepted; clients that send no Origin (not browsers) connect.
 * With mqtt.js over ws://, as a browser page's client would connect.
 */
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMqttServer, type WsTestServer } from '@junction/testkit';

let server: WsTestServer;
beforeAll(async () => {
  server = await startMqttServer();
});
afterAll(async () => server.close());

/** 'connected', or the HTTP status that refused the upgrade (mqtt.js only reports a close). */
function tryConnect(origin: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    let error = 'closed';
    const c = mqtt.connect(`ws://127.0.0.1:${server.wsPort}/ws`, {
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
      connectTimeout: 5000,
      // The ws WebSocket mqtt.js would make, with the Origin a browser page sends.
      createWebsocket: (url: string, protocols: string[]) => {
        const ws = new WebSocket(url, protocols, origin !== undefined ? { origin } : {});
        ws.once('unexpected-response', (_req, res) => (error = `HTTP ${res.statusCode}`));
        return ws;
      },
    });
    c.once('connect', () => {
      resolve('connected');
      c.end(true);
    });
    c.on('error', () => {});
    c.once('close', () => {
      resolve(error);
      c.end(true);
    });
  });
}

describe('MQTT over WebSocket Origin', () => {
  it('refuses a page from another site with 403 before any MQTT', async () => {
    const before = server.broker.connections.size;
    expect(await tryConnect('http://evil.example')).toBe('HTTP 403');
    expect(await tryConnect(`http://127.0.0.1:${server.wsPort + 1}`)).toBe('HTTP 403');
    expect(await tryConnect('null')).toBe('HTTP 403');
    expect(server.broker.connections.size).toBe(before);
  });

  it('accepts a page from the broker’s own host, and clients that send no Origin', async () => {
    expect(await tryConnect(`http://127.0.0.1:${server.wsPort}`)).toBe('connected');
    expect(await tryConnect(undefined)).toBe('connected');
  });
});
