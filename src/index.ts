/**
 * voicepipe: real-time voice and multimodal AI agents in TypeScript.
 *
 * The public API, listed name by name (STYLE §11). Heavy or optional parts live in subpath
 * exports (`voicepipe/testing`, and later `voicepipe/audio/vad/silero` and the services).
 */

// Clock
export { BaseClock, SystemClock, VirtualClock, VirtualTimeExceededError } from "./clock/index.js";
export type { Clock, TimerHandle, RunUntilOptions } from "./clock/index.js";

// Frames
export {
  Frame,
  SystemFrame,
  DataFrame,
  ControlFrame,
  FrameDirection,
  isUninterruptible,
  StartFrame,
  EndFrame,
  StopFrame,
  CancelFrame,
  InterruptionFrame,
  EndTaskFrame,
  StopTaskFrame,
  CancelTaskFrame,
  InterruptionTaskFrame,
  HeartbeatFrame,
  DEFAULT_START_PARAMS,
  ErrorFrame,
  InputAudioRawFrame,
  OutputAudioRawFrame,
  TTSAudioRawFrame,
  InvalidAudioFrameError,
  TextFrame,
  LLMTextFrame,
  TTSTextFrame,
  TTSSpeakFrame,
  TranscriptionFrame,
  InterimTranscriptionFrame,
  LLMRunFrame,
  LLMMessagesAppendFrame,
  LLMMessagesUpdateFrame,
  LLMSetToolsFrame,
  LLMContextFrame,
  LLMFullResponseStartFrame,
  LLMFullResponseEndFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  UserSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  BotStartedSpeakingFrame,
  BotSpeakingFrame,
  BotStoppedSpeakingFrame,
  FunctionCallsStartedFrame,
  FunctionCallInProgressFrame,
  FunctionCallResultFrame,
  FunctionCallCancelFrame,
  InputTransportMessageFrame,
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
  MixerControlFrame,
  MixerUpdateSettingsFrame,
  MixerEnableFrame,
  MetricsFrame,
  ServiceUpdateSettingsFrame,
} from "./frames/index.js";
export type {
  FrameLane,
  StartParams,
  AudioData,
  LLMMessage,
  FunctionCallInfo,
  MixerSettings,
  MetricsData,
} from "./frames/index.js";

// Processors
export { FrameProcessor } from "./processors/frame-processor.js";
export type {
  FrameProcessorOptions,
  FrameProcessorEvents,
  ProcessorState,
} from "./processors/frame-processor.js";
export type { ProcessorContext } from "./processors/processor-context.js";

// Pipeline
export { Pipeline, flattenProcessors } from "./pipeline/pipeline.js";
export { ParallelPipeline } from "./pipeline/parallel-pipeline.js";
export { PipelineTask } from "./pipeline/task.js";
export type { PipelineTaskEvents, TaskTimeoutEvent } from "./pipeline/task.js";
export { DEFAULT_PIPELINE_PARAMS } from "./pipeline/task-options.js";
export type { PipelineParams, PipelineTaskOptions, FrameClass } from "./pipeline/task-options.js";
export { PipelineRunner } from "./pipeline/runner.js";
export type { PipelineRunnerOptions } from "./pipeline/runner.js";

// Observers
export { ObserverDispatcher } from "./observers/observer-dispatcher.js";
export type { Observer, FramePushedEvent } from "./observers/observer.js";

// Errors, events, logging
export {
  VoicepipeError,
  TaskClosedError,
  LifecycleTimeoutError,
  InterruptedError,
  CancelledError,
  ProcessorError,
  InvalidOptionError,
  PipelineLinkError,
} from "./errors.js";
export type { TimeoutStage } from "./errors.js";
export { TypedEvents } from "./events.js";
export type { EventMap } from "./events.js";
export { createConsoleLogger, silentLogger } from "./logger.js";
export type { Logger, LogLevel } from "./logger.js";
