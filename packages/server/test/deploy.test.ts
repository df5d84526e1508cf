/**
 * deploy/: the image, compose files and Kubernetes manifests agree with the server's defaults
 * and settings (every listener exposed, TLS ones included; the data directory on a volume; HTTP
 * probes on /readyz and /healthz; time for a graceful stop; the TLS settings of compose.tls.yaml
 * and the StatefulSet turn on every TLS listener with the files mounted at /etc/junction/tls),
 * and the image's entry command, run as the image runs it (PID 1 of a pid namespace, its
 * arguments, its environment plus the StatefulSet's TLS settings) on a temporary data directory
 * and certificates, serves /readyz over HTTP and HTTPS, every TLS listener completes a verified
 * handshake, and it stops cleanly on SIGTERM. No container engine is needed.
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { makeTestPki, onlyChildPid, spawnLogged } from '@junction/testkit';
import { defaults, loadConfig, tlsListeners } from '../src/config.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const dockerfile = read('deploy/Dockerfile');
// The final stage: what the image runs.
const image = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

interface Container {
  ports: { name: string; containerPort: number }[];
  env: { name: string; value?: string }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
}

const TLS_DIR = '/etc/junction/tls';
const k8s = yaml.loadAll(read('deploy/k8s/junction.yaml')) as { kind: string; spec: any }[]; // eslint-disable-line @typescript-eslint/no-explicit-any
const statefulSet = k8s.find((d) => d.kind === 'StatefulSet')!;
const container = statefulSet.spec.template.spec.containers[0] as Container;
/** The StatefulSet's TLS settings: JUNCTION_TLS_* and the TLS listeners' ports. */
const k8sTlsEnv = Object.fromEntries(
  container.env
    .filter((e) => e.value !== undefined && /^JUNCTION_(TLS_|\w+S_PORT$)/.test(e.name))
    .map((e) => [e.name, e.value!]),
);
/** What the TLS settings turn on: each TLS listener's setting and port. */
const tlsPorts = (env: Record<string, string>): Record<string, number> => {
  const config = loadConfig({ env });
  const port = {
    'amqps-port': config.amqp?.tlsPort,
    'mqtts-port': config.mqtt?.tlsPort,
    'mqtt-wss-port': config.mqtt?.wssPort,
    'stomps-port': config.stomp?.tlsPort,
    'stomp-wss-port': config.stomp?.wssPort,
    'https-port': config.http?.tlsPort,
  };
  return Object.fromEntries(tlsListeners(config).map((l) => [l.flag, port[l.flag as keyof typeof port]!]));
};
const TLS_PORTS = Object.values(tlsPorts(k8sTlsEnv));

/** Every port the server listens on by default, and every TLS listener's. */
const PORTS = [
  defaults.amqp!.port,
  defaults.mqtt!.port,
  defaults.mqtt!.wsPort!,
  defaults.stomp!.port,
  defaults.stomp!.wsPort!,
  defaults.http!.port,
  ...TLS_PORTS,
];

/** ENV lines of the final stage, continuation lines joined. */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of image.replace(/\\\n\s*/g, ' ').matchAll(/^ENV (.+)$/gm)) {
    for (const kv of m[1]!.matchAll(/(\w+)=(\S+)/g)) env[kv[1]!] = kv[2]!;
  }
  return env;
}

describe('deploy/', () => {
  const env = imageEnv();

  it('the image exposes every listener, keeps its data in a volume, and runs junction start', () => {
    const exposed = /^EXPOSE (.+)$/m.exec(image)![1]!.split(/\s+/).map(Number);
    expect(exposed.sort()).toEqual([...PORTS].sort());
    expect(env['JUNCTION_DATA_DIR']).toBe('/var/lib/junction');
    expect(image).toMatch(/^VOLUME \/var\/lib\/junction$/m);
    expect(image).toMatch(/^STOPSIGNAL SIGTERM$/m);
    expect(image).toContain('ENTRYPOINT ["node", "packages/server/bin/junction.js", "start"]');
  });

  it('compose publishes every listener and mounts a named volume on the data directory', () => {
    const compose = yaml.load(read('deploy/compose.yaml')) as {
      services: {
        junction: {
          ports: string[];
          volumes: string[];
          environment: Record<string, string>;
          stop_grace_period: string;
        };
      };
      volumes: Record<string, unknown>;
    };
    const svc = compose.services.junction;
    expect(svc.ports.map((p) => Number(p.split(':')[1])).sort()).toEqual([...PORTS].sort());
    expect(svc.volumes).toContain('junction-data:/var/lib/junction');
    expect(compose.volumes).toHaveProperty('junction-data');
    expect(svc.environment['JUNCTION_DATA_DIR']).toBe('/var/lib/junction');
    expect(Number.parseInt(svc.stop_grace_period, 10)).toBeGreaterThan(5); // the broker drains 5 s
  });

  it('Kubernetes: a StatefulSet with a volume claim, HTTP probes, TLS secret and a grace period', () => {
    const sts = statefulSet;
    const svc = k8s.find((d) => d.kind === 'Service')!;
    const pod = sts.spec.template.spec;
    const c = container;
    expect(c.ports.map((p) => p.containerPort).sort()).toEqual([...PORTS].sort());
    expect((svc.spec.ports as { port: number }[]).map((p) => p.port).sort()).toEqual([...PORTS].sort());
    const httpPort = c.ports.find((p) => p.containerPort === defaults.http!.port)!.name;
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: httpPort });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: httpPort });
    const dataDir = c.env.find((e) => e.name === 'JUNCTION_DATA_DIR')?.value;
    expect(dataDir).toBe('/var/lib/junction');
    const dataMount = c.volumeMounts.find((m) => m.mountPath === dataDir)!;
    expect(
      sts.spec.volumeClaimTemplates.map((t: { metadata: { name: string } }) => t.metadata.name),
    ).toContain(dataMount.name);
    expect(sts.spec.volumeClaimTemplates[0].spec.accessModes).toEqual(['ReadWriteOnce']);
    const tls = c.volumeMounts.find((m) => m.mountPath === TLS_DIR)!;
    expect(tls.readOnly).toBe(true);
    expect(pod.volumes.find((v: { name: string }) => v.name === tls.name).secret.secretName).toBe(
      'junction-tls',
    );
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(5);
  });

  it('the StatefulSet and compose.tls.yaml turn on every TLS listener with the mounted files', () => {
    expect(Object.keys(tlsPorts(k8sTlsEnv)).sort()).toEqual([
      'amqps-port',
      'https-port',
      'mqtt-wss-port',
      'mqtts-port',
      'stomp-wss-port',
      'stomps-port',
    ]);
    expect(k8sTlsEnv).toMatchObject({
      JUNCTION_TLS_CERT: `${TLS_DIR}/tls.crt`,
      JUNCTION_TLS_KEY: `${TLS_DIR}/tls.key`,
      JUNCTION_TLS_CA: `${TLS_DIR}/ca.crt`,
    });
    const overlay = yaml.load(read('deploy/compose.tls.yaml')) as {
      services: { junction: { environment: Record<string, string>; volumes: string[] } };
    };
    const svc = overlay.services.junction;
    expect(svc.environment).toEqual(k8sTlsEnv);
    expect(svc.volumes).toEqual([`./tls:${TLS_DIR}:ro`]);
    // The keys are mounted at run time, never copied into the image by `COPY . .`.
    expect(read('.dockerignore').split('\n')).toContain('deploy/tls');
  });

  it("runs the image's entry command as PID 1 of a pid namespace: /readyz, then a clean SIGTERM stop", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'junction-image-'));
    let running: ChildProcess | undefined;
    // The Secret's files, as the StatefulSet mounts them, in a directory of their own.
    const pki = makeTestPki();
    const tlsDir = mkdtempSync(join(tmpdir(), 'junction-image-tls-'));
    copyFileSync(pki.server.certPath, join(tlsDir, 'tls.crt'));
    copyFileSync(pki.server.keyPath, join(tlsDir, 'tls.key'));
    copyFileSync(pki.caPath, join(tlsDir, 'ca.crt'));
    try {
      // The image's environment, on loopback and ephemeral ports, and a temporary data directory.
      const childEnv = {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        ...env,
        JUNCTION_DATA_DIR: dataDir,
        // The StatefulSet's TLS settings, with the files where this test put them.
        ...Object.fromEntries(Object.entries(k8sTlsEnv).map(([k, v]) => [k, v.replace(TLS_DIR, tlsDir)])),
        ...Object.fromEntries(
          [
            ...['AMQP', 'MQTT', 'MQTT_WS', 'STOMP', 'STOMP_WS', 'HTTP'],
            ...['AMQPS', 'MQTTS', 'MQTT_WSS', 'STOMPS', 'STOMP_WSS', 'HTTPS'],
          ].map((l) => [`JUNCTION_${l}_PORT`, '0']),
        ),
        ...Object.fromEntries(
          ['AMQP', 'MQTT', 'STOMP', 'HTTP'].map((l) => [`JUNCTION_${l}_HOST`, '127.0.0.1']),
        ),
      };
      const proc = spawnLogged(
        [
          ...['unshare', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL'],
          ...['node', 'packages/server/bin/junction.js', 'start'],
        ],
        { cwd: root, env: childEnv },
      );
      running = proc.child;
      const { child, exited } = proc;
      const started = (await proc.line('Junction started', 30_000)) as {
        pid: number;
        ports: Record<string, number>;
      };
      expect(started.pid).toBe(1);
      expect(Object.keys(started.ports).sort()).toEqual([
        'amqp',
        'amqps',
        'http',
        'https',
        'mqtt',
        'mqttWs',
        'mqttWss',
        'mqtts',
        'stomp',
        'stompWs',
        'stompWss',
        'stomps',
      ]);
      const ready = await fetch(`http://127.0.0.1:${started.ports['http']}/readyz`);
      expect(ready.status).toBe(200);
      // Each TLS listener serves the mounted certificate, verified against the mounted CA.
      for (const l of ['amqps', 'mqtts', 'mqttWss', 'stomps', 'stompWss', 'https']) {
        const authorized = await new Promise<boolean>((resolve, reject) => {
          const s = tlsConnect(
            { host: '127.0.0.1', servername: 'localhost', port: started.ports[l]!, ca: pki.ca },
            () => {
              resolve(s.authorized);
              s.destroy();
            },
          );
          s.once('error', reject);
        });
        expect(authorized, l).toBe(true);
      }
      // SIGTERM, as the container runtime sends it, to the broker (unshare passes none on).
      process.kill(onlyChildPid(child.pid!), 'SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      // unshare's --kill-child takes the broker with it.
      if (running?.exitCode === null) running.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(tlsDir, { recursive: true, force: true });
      pki.remove();
    }
  }, 60_000);
});
