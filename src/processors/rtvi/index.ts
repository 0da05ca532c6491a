/**
 * voicepipe/rtvi: the server side of RTVI 2.1.0, the protocol of the official Pipecat web client
 * (docs/design/rtvi.md).
 */
export { RTVIProcessor } from "./rtvi-processor.js";
export type {
  RTVIProcessorOptions,
  RTVIProcessorEvents,
  RTVIClientInfo,
  RTVIUiMessageType,
} from "./rtvi-processor-options.js";
export { RTVIObserver } from "./rtvi-observer.js";
export type { RTVIObserverOptions } from "./rtvi-observer.js";
export { RTVIOutputGate } from "./output-gate.js";
export type { RTVIOutputGateOptions } from "./output-gate.js";
export { RTVI_FRAME_TYPES } from "./server-messages.js";
export {
  RTVI_LABEL,
  RTVI_PROTOCOL_VERSION,
  RTVI_ABOUT,
  RTVI_SUPPORTED_MAJORS,
  rtviMessage,
} from "./protocol.js";
export type {
  RTVIClientMessageType,
  RTVIServerMessageType,
  RTVIServerEventType,
  RTVIServerMessageData,
  RTVIMetricEntry,
} from "./protocol.js";
export { parseClientMessage, MAX_DTMF_BUTTONS } from "./parse.js";
export type { RTVIClientMessage, ParsedClientMessage } from "./parse.js";
export {
  RTVIOutputMessageFrame,
  RTVIClientReadyFrame,
  RTVIClientMessageFrame,
  RTVIServerMessageFrame,
} from "../../frames/rtvi.js";
export type { RTVIMessage, RTVIClientRequest } from "../../frames/rtvi.js";
