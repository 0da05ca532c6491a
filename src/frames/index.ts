export {
  Frame,
  SystemFrame,
  DataFrame,
  ControlFrame,
  FrameDirection,
  isUninterruptible,
  type FrameLane,
} from "./frame.js";
export {
  StartFrame,
  EndFrame,
  CancelFrame,
  InterruptionFrame,
  EndTaskFrame,
  CancelTaskFrame,
  InterruptionTaskFrame,
  HeartbeatFrame,
  DEFAULT_START_PARAMS,
  type StartParams,
} from "./lifecycle.js";
export { ErrorFrame } from "./error.js";
export {
  InputAudioRawFrame,
  OutputAudioRawFrame,
  TTSAudioRawFrame,
  InvalidAudioFrameError,
  type AudioData,
} from "./audio.js";
export {
  TextFrame,
  LLMTextFrame,
  TTSTextFrame,
  TTSSpeakFrame,
  TranscriptionFrame,
  InterimTranscriptionFrame,
} from "./text.js";
export {
  LLMRunFrame,
  LLMMessagesAppendFrame,
  LLMMessagesUpdateFrame,
  LLMSetToolsFrame,
  LLMContextFrame,
  LLMPreemptiveContextFrame,
  LLMPreemptiveTextFrame,
  LLMFullResponseStartFrame,
  LLMFullResponseEndFrame,
  type LLMMessage,
} from "./llm.js";
export { TTSStartedFrame, TTSStoppedFrame } from "./tts.js";
export {
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  UserSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  BotStartedSpeakingFrame,
  BotSpeakingFrame,
  BotStoppedSpeakingFrame,
} from "./speaking.js";
export {
  FunctionCallsStartedFrame,
  FunctionCallInProgressFrame,
  FunctionCallResultFrame,
  FunctionCallCancelFrame,
  type FunctionCallInfo,
} from "./function-calls.js";
export {
  InputTransportMessageFrame,
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
} from "./transport-messages.js";
export {
  MixerControlFrame,
  MixerUpdateSettingsFrame,
  MixerEnableFrame,
  type MixerSettings,
} from "./mixer.js";
export { MetricsFrame, type MetricsData } from "./metrics.js";
export { ServiceUpdateSettingsFrame } from "./settings.js";
export { UserMuteStartedFrame, UserMuteStoppedFrame } from "./user-mute.js";
export { STTEndOfTurnFrame, type STTEndOfTurnCause } from "./turn.js";
export {
  TranscriptionPendingFrame,
  TranscriptionSettledFrame,
  type TranscriptionTotals,
} from "./transcribing.js";
export { InputDTMFFrame, OutputDTMFFrame, DTMF_KEYS, isDTMFKey, type DTMFKey } from "./dtmf.js";
export {
  BotOutputFrame,
  LLMConfigureOutputFrame,
  type BotOutputInit,
  type BotOutputSpokenStatus,
} from "./bot-output.js";
