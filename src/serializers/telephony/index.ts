/** Telephony media-stream serializers (docs/design/telephony.md). */
export {
  DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES,
  TelephonyFormatError,
  TelephonySerializer,
  describeFormat,
  type JsonObject,
  type TelephonyCall,
  type TelephonyProvider,
  type TelephonySerializerOptions,
  type TelephonyWire,
} from "./telephony-serializer.js";
export { TwilioFrameSerializer } from "./twilio.js";
export {
  TelnyxFrameSerializer,
  TelnyxStreamError,
  type TelnyxCodec,
  type TelnyxFrameSerializerOptions,
  type TelnyxSamplingRate,
} from "./telnyx.js";
export { ReorderWindow } from "./reorder-window.js";
export {
  DEFAULT_PLIVO_CONTENT_TYPE,
  PLIVO_CONTENT_TYPES,
  PlivoFrameSerializer,
  type PlivoContentType,
  type PlivoFrameSerializerOptions,
} from "./plivo.js";
export {
  EXOTEL_SAMPLE_RATES,
  ExotelFrameSerializer,
  type ExotelSampleRate,
  type ExotelSerializerOptions,
} from "./exotel.js";
export {
  VONAGE_SAMPLE_RATES,
  VonageFrameSerializer,
  type VonageSampleRate,
  type VonageSerializerOptions,
} from "./vonage.js";
export { Packetizer, type PacketRule } from "./packetizer.js";
export {
  bytesPerSample,
  decodeBase64,
  decodeWireAudio,
  encodeBase64,
  encodeWireAudio,
  silenceByte,
  wireBytes,
  type WireEncoding,
  type WireFormat,
} from "./wire-audio.js";
