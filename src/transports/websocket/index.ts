/** The WebSocket server transport (docs/design/websocket-transport.md). */
export type { EndHook } from "./end-hooks.js";
export { Heartbeat, type HeartbeatOptions } from "./heartbeat.js";
export { WebSocketTransport, type WebSocketTransportEvents } from "./websocket-transport.js";
export { WebSocketInputTransport } from "./websocket-input.js";
export { WebSocketOutputTransport } from "./websocket-output.js";
export type {
  ClientDisconnectAction,
  RefusedMessageReason,
  WebSocketTransportOptions,
} from "./websocket-options.js";
