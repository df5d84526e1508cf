/** @junction/cluster: what lets several Junction nodes share one Redis (issue 17's foundation). */
export { ClusterKeys, queueHashTag, checkNodeId } from './keys.js';
export { FENCE_CHECK_LUA, fencedScript, isFenced } from '@junction/storage-redis';
export { NodeRegistry, type LiveNode, type NodeRegistryOptions } from './node-registry.js';
export {
  QueueLeases,
  type AcquireResult,
  type OwnerRecord,
  type QueueLease,
  type QueueLeasesOptions,
} from './queue-leases.js';
export { placeQueue, type NodeLoad } from './placement.js';
export type { RedisConnection } from './scripts.js';
export {
  NodeLink,
  PeerHandle,
  LINK_DEFAULTS,
  type NodeLinkEvents,
  type NodeLinkOptions,
  type PeerStatus,
} from './link/node-link.js';
export { PeerChannel } from './link/channel.js';
export type { Handler, HandlerResult } from './link/connection.js';
export { LinkError, type LinkErrorCode } from './link/errors.js';
export { LINK_PROTOCOL_VERSION } from './link/handshake.js';
export {
  LinkChannels,
  MSG_QUEUE_MESSAGE,
  MSG_QUEUE_REQUEST,
  type LinkChannelsOptions,
} from './link-channels.js';
