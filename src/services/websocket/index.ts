export { Backoff, type BackoffOptions, MAX_ATTEMPTS_LIMIT } from "./backoff.js";
export { ProviderSocket, type ProviderSocketState, type ProviderSocketStats } from "./provider-socket.js";
export {
  type DisconnectInfo,
  type OpenInfo,
  type ProviderSocketOptions,
  type SocketData,
  type SocketMessage,
} from "./provider-socket-options.js";
export {
  DEFAULT_PERMANENT_CLOSE_CODES,
  ProviderSocketError,
  type ProviderSocketFailure,
} from "./provider-socket-error.js";
