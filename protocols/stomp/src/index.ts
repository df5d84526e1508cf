/** @junction/stomp: the STOMP 1.0/1.1/1.2 adapter (TCP and WebSocket) over the Junction core. */
export { createStompAdapter } from './server.js';
export { defaultStompConfig, type StompConfig } from './config.js';
export { FrameParser, FrameError, type Frame, type ParserLimits } from './parser.js';
export { encodeFrame } from './encode.js';
export { parseDestination, type Destination } from './destinations.js';
