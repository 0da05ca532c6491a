/**
 * Phone calls: telephony providers' media streams over the WebSocket transport
 * (docs/design/telephony.md). `voicepipe/telephony`.
 */
export {
  DEFAULT_PLIVO_CONTENT_TYPE,
  DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES,
  PLIVO_CONTENT_TYPES,
  Packetizer,
  PlivoFrameSerializer,
  TelephonyFormatError,
  TelephonySerializer,
  TwilioFrameSerializer,
  bytesPerSample,
  decodeBase64,
  decodeWireAudio,
  describeFormat,
  encodeBase64,
  encodeWireAudio,
  silenceByte,
  wireBytes,
  type JsonObject,
  type PacketRule,
  type PlivoContentType,
  type PlivoFrameSerializerOptions,
  type TelephonyCall,
  type TelephonyProvider,
  type TelephonySerializerOptions,
  type TelephonyWire,
  type WireEncoding,
  type WireFormat,
} from "../serializers/telephony/index.js";
export {
  answerCall,
  CallStartError,
  type AnswerCallOptions,
  type AnsweredCall,
  type CallTransportOptions,
} from "./answer-call.js";
export { TELEPHONY_PROVIDERS, createTelephonySerializer } from "./serializers.js";
export { CallControlError, type CallControl } from "./call-control.js";
export { PlivoCallControl, plivoDialXml, type PlivoCallControlOptions } from "./plivo-call-control.js";
