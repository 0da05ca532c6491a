/**
 * Phone calls: telephony providers' media streams over the WebSocket transport
 * (docs/design/telephony.md). `voicepipe/telephony`.
 */
export {
  DEFAULT_PLIVO_CONTENT_TYPE,
  DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES,
  PLIVO_CONTENT_TYPES,
  EXOTEL_SAMPLE_RATES,
  ExotelFrameSerializer,
  Packetizer,
  ReorderWindow,
  PlivoFrameSerializer,
  TelephonyFormatError,
  TelephonySerializer,
  TelnyxFrameSerializer,
  TelnyxStreamError,
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
  type PlivoContentType,
  type PlivoFrameSerializerOptions,
  type TelephonyCall,
  type TelephonyProvider,
  type TelephonySerializerOptions,
  type TelephonyWire,
  type TelnyxCodec,
  type TelnyxFrameSerializerOptions,
  type TelnyxSamplingRate,
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
export { TELEPHONY_PROVIDERS, createTelephonySerializer, type CallSerializerOptions } from "./serializers.js";
export { readStreamUrl, type CallStreamOptions, type StreamUrlReading } from "./stream-url.js";
export {
  CallControlError,
  DEFAULT_CALL_CONTROL_TIMEOUT_MS,
  type CallControl,
  type CallControlOptions,
} from "./call-control.js";
export { TwilioCallControl, type TwilioCallControlOptions } from "./twilio-call-control.js";
export {
  hangUpCall,
  runCall,
  type CallOutcome,
  type HangUpCallOptions,
  type RunCallOptions,
} from "./run-call.js";
export { TelnyxCallControl, type TelnyxCallControlOptions } from "./telnyx-call-control.js";
export { PlivoCallControl, plivoDialXml, type PlivoCallControlOptions } from "./plivo-call-control.js";
export { VonageCallControl, type VonageCallControlOptions } from "./vonage-call-control.js";
export {
  plivoStreamXml,
  telnyxStreamTexml,
  twilioStreamTwiml,
  vonageStreamNcco,
  type PlivoStreamOptions,
  type TelnyxStreamOptions,
  type TwilioStreamOptions,
  type VonageStreamOptions,
} from "./answer-documents.js";
export {
  TELNYX_SIGNATURE_TOLERANCE_MS,
  VONAGE_SIGNATURE_TOLERANCE_MS,
  checkPlivoSignature,
  checkTelnyxSignature,
  checkTwilioSignature,
  checkVonageSignature,
  telnyxPublicKey,
  type PlivoSignatureInput,
  type SignatureCheck,
  type TelnyxSignatureInput,
  type TwilioSignatureInput,
  type VonageSignatureInput,
  type WebhookParams,
} from "./webhook-signatures.js";
