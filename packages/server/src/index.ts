export { startBroker, type BrokerHandle, type StartOptions } from './start-broker.js';
export { loadConfig, defaults, type JunctionConfig } from './config.js';
export { Waiters, type WaitOptions, type MessageMatch } from './waiters.js';
export { createStore } from './storage.js';
