/**
 * Phone calls: telephony providers' media streams over the WebSocket transport
 * (docs/design/telephony.md). `voicepipe/telephony`.
 */
export {
  DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES,
  Packetizer,
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
  checkPlivoSignature,
  checkTelnyxSignature,
  checkTwilioSignature,
  telnyxPublicKey,
  type PlivoSignatureInput,
  type SignatureCheck,
  type TelnyxSignatureInput,
  type TwilioSignatureInput,
  type WebhookParams,
} from "./webhook-signatures.js";
