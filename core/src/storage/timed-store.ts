/**
 * Wraps the broker's store to time each durable write (one group commit per call from the
 * core's point of view) and report it as a `storeCommit` event: management turns these
 * into the store commit latency histogram. Costs one clock read per write when observed,
 * nothing otherwise.
 */
import type { BrokerEvents } from '../events.js';
import type { Store } from './store.js';

export type StoreOperation =
  | 'enqueue'
  | 'remove'
  | 'markDelivered'
  | 'dropQueue'
  | 'writeDefinitions'
  | 'putRetained'
  | 'putMqttSession';

export function timedStore(store: Store, events: BrokerEvents): Store {
  const timed =
    <A extends unknown[]>(operation: StoreOperation, fn: (...args: A) => Promise<void>) =>
    (...args: A): Promise<void> => {
      if (!events.observed) return fn(...args);
      const t0 = performance.now();
      return fn(...args).then(() =>
        events.emit('storeCommit', { operation, seconds: (performance.now() - t0) / 1000 }),
      );
    };
  return {
    get capabilities() {
      return store.capabilities;
    },
    get failure() {
      return store.failure;
    },
    ...(store.onFailure ? { onFailure: (listener: (err: Error) => void) => store.onFailure!(listener) } : {}),
    open: () => store.open(),
    close: () => store.close(),
    writeDefinitions: timed('writeDefinitions', (changes) => store.writeDefinitions(changes)),
    enqueue: timed('enqueue', (records) => store.enqueue(records)),
    remove: timed('remove', (entries) => store.remove(entries)),
    markDelivered: timed('markDelivered', (entries) => store.markDelivered(entries)),
    ...(store.markDeliveredThrough
      ? {
          markDeliveredThrough: timed('markDelivered', (queue, id) => store.markDeliveredThrough!(queue, id)),
        }
      : {}),
    dropQueue: timed('dropQueue', (queue) => store.dropQueue(queue)),
    readEntries: (queue, afterMessageId, limit) => store.readEntries(queue, afterMessageId, limit),
    countEntries: (queue) => store.countEntries(queue),
    putRetained: timed('putRetained', (vhost, topic, msg) => store.putRetained(vhost, topic, msg)),
    retained: (vhost) => store.retained(vhost),
    putMqttSession: timed('putMqttSession', (vhost, clientId, state) =>
      store.putMqttSession(vhost, clientId, state),
    ),
    mqttSessions: (vhost) => store.mqttSessions(vhost),
    openStream: (ref, settings) => store.openStream(ref, settings),
    dropStream: (ref) => store.dropStream(ref),
    ...(store.requireReplication
      ? { requireReplication: (ref, required) => store.requireReplication!(ref, required) }
      : {}),
  };
}
