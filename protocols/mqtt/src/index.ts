/** @junction/mqtt: MQTT 3.1, 3.1.1 and 5.0 over TCP and WebSocket, routed by the core through amq.topic. */
export { createMqttAdapter } from './server.js';
export { defaultMqttConfig, type MqttConfig } from './config.js';
export { topicToKey, keyToTopic, filterToPattern } from './topics.js';
