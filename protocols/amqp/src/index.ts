export { createAmqpAdapter, defaultAmqpConfig } from './server.js';
export type { AmqpConfig } from './connection.js';
