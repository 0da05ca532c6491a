/**
 * Frame serializers: the message formats a network transport speaks (docs/design/serializers.md).
 */
export {
  FrameDeserializeError,
  FrameSerializeError,
  NO_FRAMES,
  type DeserializeErrorReason,
  type DeserializeResult,
  type FrameSerializer,
  type SerializedMessage,
  type SerializerSetup,
} from "./frame-serializer.js";
export { DEFAULT_MAX_JSON_DEPTH, parseJsonMessage, type JsonParseResult } from "./json-message.js";
export { wallClockOrigin } from "./wall-clock.js";
export {
  CLIENT_PTS_METADATA_KEY,
  DEFAULT_MAX_MESSAGE_BYTES,
  ProtobufFrameSerializer,
  type ProtobufFrameSerializerOptions,
} from "./protobuf/serializer.js";
