/**
 * deploy/: the image, compose file and Kubernetes manifests agree with the server's defaults
 * (every listener exposed, the data directory on a volume, HTTP probes on /readyz and
 * /healthz, time for a graceful stop), and the image's entry command, run as the image runs
 * it (PID 1 of a pid namespace, its arguments and environment) on a temporary data
 * directory, serves /readyz and stops cleanly on SIGTERM. No container engine is needed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { defaults } from '../src/config.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const dockerfile = read('deploy/Dockerfile');
// The final stage: what the image runs.
const image = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

/** Every port the server listens on by default; TLS ports as issue 13 names them. */
const PORTS = [
  defaults.amqp!.port,
  5671,
  defaults.mqtt!.port,
  8883,
  defaults.mqtt!.wsPort!,
  defaults.stomp!.port,
  61614,
  defaults.stomp!.wsPort!,
  defaults.http!.port,
];

/** ENV lines of the final stage, continuation lines joined. */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of image.replace(/\\\n\s*/g, ' ').matchAll(/^ENV (.+)$/gm)) {
    for (const kv of m[1]!.matchAll(/(\w+)=(\S+)/g)) env[kv[1]!] = kv[2]!;
  }
  return env;
}

interface Container {
  ports: { name: string; containerPort: number }[];
  env: { name: string; value?: string }[];
  volumeMounts: { name: string; mountPath: string }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
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
    const docs = yaml.loadAll(read('deploy/k8s/junction.yaml')) as { kind: string; spec: any }[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    const sts = docs.find((d) => d.kind === 'StatefulSet')!;
    const svc = docs.find((d) => d.kind === 'Service')!;
    const pod = sts.spec.template.spec;
    const c = pod.containers[0] as Container;
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
    const tls = c.volumeMounts.find((m) => m.mountPath === '/etc/junction/tls')!;
    expect(pod.volumes.find((v: { name: string }) => v.name === tls.name).secret.secretName).toBe(
      'junction-tls',
    );
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(5);
  });

  it("runs the image's entry command as PID 1 of a pid namespace: /readyz, then a clean SIGTERM stop", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'junction-image-'));
    try {
      // The image's environment, on loopback and ephemeral ports, and a temporary data directory.
      const childEnv = {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        ...env,
        JUNCTION_DATA_DIR: dataDir,
        ...Object.fromEntries(
          ['AMQP', 'MQTT', 'MQTT_WS', 'STOMP', 'STOMP_WS', 'HTTP'].map((l) => [`JUNCTION_${l}_PORT`, '0']),
        ),
        ...Object.fromEntries(
          ['AMQP', 'MQTT', 'STOMP', 'HTTP'].map((l) => [`JUNCTION_${l}_HOST`, '127.0.0.1']),
        ),
      };
      const child = spawn(
        'unshare',
        [
          '--pid',
          '--fork',
          '--mount-proc',
          '--kill-child=SIGKILL',
          'node',
          'packages/server/bin/junction.js',
          'start',
        ],
        { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const started = await new Promise<{ pid: number; ports: Record<string, number> }>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          const l = JSON.parse(line) as { msg?: string; pid: number; ports: Record<string, number> };
          if (l.msg === 'Junction started') resolve(l);
        });
        void exited.then((code) => reject(new Error(`exited with ${code}: ${stderr}`)));
      });
      expect(started.pid).toBe(1);
      expect(Object.keys(started.ports).sort()).toEqual([
        'amqp',
        'http',
        'mqtt',
        'mqttWs',
        'stomp',
        'stompWs',
      ]);
      const ready = await fetch(`http://127.0.0.1:${started.ports['http']}/readyz`);
      expect(ready.status).toBe(200);
      // SIGTERM, as the container runtime sends it, to the broker (unshare passes none on).
      const pid = child.pid!;
      const broker = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim());
      process.kill(broker, 'SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
