/** For the server, management and test kit only: broker internals adapters must not reach into. */
export { Vhost } from './vhost.js';
export type { Queue, QueueStats } from './queues/queue-type.js';
export { ClassicQueue } from './queues/queue.js';
export { Exchange } from './exchanges/exchange.js';
export { ChannelSession } from './channel-session.js';
export { BrokerConnection } from './connection.js';
export { UserStore } from './auth/users.js';
export { NodePeer, DEFAULT_PEER_LIMITS, type NodePeerOptions, type PeerLimits } from './cluster/node-peer.js';
export {
  RemoteQueue,
  isRemoteQueue,
  DEFAULT_REMOTE_QUEUE_LIMITS,
  type RemoteQueueInit,
  type RemoteQueueLimits,
} from './cluster/remote-queue.js';
export { ChannelEnd, type OwnerChannel, type ChannelHandlers } from './cluster/owner-channel.js';
export { inProcessChannels, type ChannelPair } from './cluster/in-process-channel.js';
export { encodeFrame, decodeReply, type Frame, type Reply } from './cluster/frames.js';
export { classicQueueType } from './queues/classic.js';
