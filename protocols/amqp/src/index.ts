export { createAmqpAdapter, defaultAmqpConfig } from './server.js';
export { AUTH_MECHANISMS, type AmqpConfig, type AuthMechanism } from './connection.js';
