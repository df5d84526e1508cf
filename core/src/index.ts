/** @junction/core: the protocol-independent routing core. Adapters use only what is exported here. */
export * from './errors.js';
export { NAME_MAX_BYTES, checkName, type NameKind } from './names.js';
export { SESSION_OWNED_ARG } from './queues/queue-settings.js';
export { linearRegex, UnsupportedRegex, MAX_PATTERN_LENGTH, type LinearRegex } from './linear-regex.js';
export * from './message.js';
export * from './session.js';
export type { DirectSink, DirectSubscription } from './direct-subscription.js';
export type { BrokerEventMap, DeathReason } from './events.js';
export { BrokerEvents } from './events.js';
export { Broker, isLoopback, type AlarmKind, type BrokerOptions } from './broker.js';
export type * from './storage/store.js';
export { emptyDefinitions } from './storage/store.js';
export { MemoryStore } from './storage/memory-store.js';
export type * from './storage/stream-log.js';
export {
  STREAM_DEFAULT_SEGMENT_BYTES,
  STREAM_NAME_MAX_BYTES,
  checkStreamName,
  checkStreamSettings,
} from './storage/stream-log.js';
export * from './storage/stream-segments.js';
export {
  SegmentedStreamLog,
  type EncodedStreamEntry,
  type RecoveredStream,
  type SizedStreamEntry,
  type StreamWrite,
  type StreamWritePiece,
} from './storage/segmented-stream-log.js';
export { definitionIdentity } from './storage/identity.js';
export { escapeStoredKeys, unescapeStoredKeys } from './storage/stored-keys.js';
export { pack, unpack, toBuffer } from './storage/packed.js';
export { MAX_TIMER_MS } from './timers.js';
export type {
  ExchangeType,
  BindingIndex,
  Binding,
  Destination,
  Routable,
} from './exchanges/exchange-type.js';
export { TopicTrie, type MatchSink } from './exchanges/topic-trie.js';
export { SmallMap } from './small-map.js';
export { hashPassword, verifyPassword } from './auth/password.js';
export {
  SCRAM_SHA_256,
  SCRAM_ITERATIONS,
  SCRAM_MAX_MESSAGE,
  SCRAM_MAX_NONCE,
  ScramRefused,
  scramCredentials,
  type ScramCredentials,
} from './auth/scram.js';
export type { User, Permission } from './auth/users.js';
export {
  certificateLogin,
  distinguishedName,
  CERT_LOGIN_FROM,
  type CertLoginFrom,
  type CertificateIdentity,
  type CertificateLogin,
} from './auth/cert-login.js';
export type { Policy } from './policies.js';
export type * from './adapter.js';
export {
  compileSelector,
  MAX_SELECTOR_LENGTH,
  MAX_SELECTOR_DEPTH,
  type SelectorPredicate,
} from './selector/index.js';
export { FLOW_HIGH, FLOW_LOW, FLOW_MAX_HOLD_MS } from './flow.js';
export type {
  QueueType,
  Queue,
  QueueContext,
  QueueInit,
  QueueOptions,
  QueueStats,
  Admission,
  EnqueueOutcome,
  PublishWrite,
  StoredEntries,
  ConsumerView,
} from './queues/queue-type.js';
export type { QueueHosting } from './queues/queue-hosting.js';
export type { MessageIds } from './broker.js';
