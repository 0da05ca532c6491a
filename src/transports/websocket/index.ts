/** The WebSocket server transport (docs/design/websocket-transport.md). */
export { Heartbeat, type HeartbeatOptions } from "./heartbeat.js";
export {
  type ClientDisconnectAction,
  type RefusedMessageReason,
  WebSocketInputTransport,
  WebSocketOutputTransport,
  WebSocketTransport,
  type WebSocketTransportEvents,
  type WebSocketTransportOptions,
} from "./websocket-transport.js";
