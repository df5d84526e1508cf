/** @junction/mqtt: MQTT 3.1 and 3.1.1 over TCP and WebSocket, routed by the core through amq.topic. */
export { createMqttAdapter } from './server.js';
export { defaultMqttConfig, type MqttConfig } from './config.js';
export { topicToKey, keyToTopic, filterToPattern } from './topics.js';
