/**
 * Phone calls: telephony providers' media streams over the WebSocket transport
 * (docs/design/telephony.md). `voicepipe/telephony`.
 */
export {
  DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES,
  EXOTEL_SAMPLE_RATES,
  ExotelFrameSerializer,
  Packetizer,
  TelephonyFormatError,
  TelephonySerializer,
  TwilioFrameSerializer,
  VONAGE_SAMPLE_RATES,
  VonageFrameSerializer,
  bytesPerSample,
  decodeBase64,
  decodeWireAudio,
  describeFormat,
  encodeBase64,
  encodeWireAudio,
  silenceByte,
  wireBytes,
  type ExotelSampleRate,
  type ExotelSerializerOptions,
  type JsonObject,
  type PacketRule,
  type TelephonyCall,
  type TelephonyProvider,
  type TelephonySerializerOptions,
  type TelephonyWire,
  type VonageSampleRate,
  type VonageSerializerOptions,
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
export { VonageCallControl, type VonageCallControlOptions } from "./vonage-call-control.js";
