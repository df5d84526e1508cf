/** For the server, management and test kit only: broker internals adapters must not reach into. */
export { Vhost } from './vhost.js';
export type { Queue, QueueStats } from './queues/queue-type.js';
export { ClassicQueue } from './queues/queue.js';
export { Exchange } from './exchanges/exchange.js';
export { ChannelSession } from './channel-session.js';
export { BrokerConnection } from './connection.js';
export { UserStore } from './auth/users.js';
