/**
 * voicepipe: real-time voice and multimodal AI agents in TypeScript.
 *
 * The public API, listed name by name. Heavy or optional parts live in subpath
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
  CancelFrame,
  InterruptionFrame,
  EndTaskFrame,
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
  LLMPreemptiveContextFrame,
  LLMPreemptiveTextFrame,
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
  UserMuteStartedFrame,
  UserMuteStoppedFrame,
  InputDTMFFrame,
  OutputDTMFFrame,
  DTMF_KEYS,
  isDTMFKey,
  BotOutputFrame,
  LLMConfigureOutputFrame,
  STTEndOfTurnFrame,
  TranscriptionPendingFrame,
  TranscriptionSettledFrame,
} from "./frames/index.js";
export type {
  FrameLane,
  StartParams,
  AudioData,
  LLMMessage,
  FunctionCallInfo,
  MixerSettings,
  MetricsData,
  DTMFKey,
  BotOutputInit,
  BotOutputSpokenStatus,
  STTEndOfTurnCause,
  TranscriptionTotals,
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
export { Pipeline } from "./pipeline/pipeline.js";
export { ParallelPipeline } from "./pipeline/parallel-pipeline.js";
export { PipelineTask } from "./pipeline/task.js";
export type { PipelineTaskEvents, TaskOutcome, TaskTimeoutEvent } from "./pipeline/task.js";
export { DEFAULT_PIPELINE_PARAMS } from "./pipeline/task-options.js";
export type { PipelineParams, PipelineTaskOptions, FrameClass } from "./pipeline/task-options.js";
export { PipelineRunner } from "./pipeline/runner.js";
export type { PipelineRunnerOptions } from "./pipeline/runner.js";

// Observers
export type { Observer, FramePushedEvent, ObservedFrameClass } from "./observers/observer.js";

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
  MisuseError,
  LLMContextError,
} from "./errors.js";
export { deadline, DeadlineExceededError } from "./clock/deadline.js";
export type { DeadlineOptions } from "./clock/deadline.js";
export { Turn } from "./processors/turn.js";
export type { TimeoutStage } from "./errors.js";
export type { EventMap } from "./events.js";
export { createConsoleLogger, silentLogger } from "./logger.js";
export type { Logger, LogLevel } from "./logger.js";

// Transports
export { BaseTransport } from "./transports/base-transport.js";
export { BaseInputTransport } from "./transports/base-input-transport.js";
export {
  BaseOutputTransport,
  DEFAULT_DESTINATION,
  OutputOpenError,
  TransportDefinitionError,
} from "./transports/base-output-transport.js";
export type {
  BaseOutputTransportOptions,
  OutputCloseReason,
  OutputOpenInfo,
} from "./transports/base-output-transport.js";
export type { OutputFormat } from "./transports/audio-chunker.js";
export { ClockPacer } from "./transports/pacer.js";
export type { Pacer, PacerFactory, PacerTiming } from "./transports/pacer.js";
export { SharedTickerPacer } from "./transports/shared-ticker.js";
export type { SharedTickerOptions } from "./transports/shared-ticker.js";
export { TransportConnection } from "./transports/transport-connection.js";
export type { ConnectionLease } from "./transports/transport-connection.js";
export { DEFAULT_TRANSPORT_PARAMS } from "./transports/transport-params.js";
export type { TransportParams } from "./transports/transport-params.js";
export {
  MemoryTransport,
  MemoryInputTransport,
  MemoryOutputTransport,
} from "./transports/memory-transport.js";
export type { MemoryTransportOptions, WrittenChunk } from "./transports/memory-transport.js";
export {
  WavFileTransport,
  WavFileInputTransport,
  WavFileOutputTransport,
} from "./transports/wav-file-transport.js";
export type { WavFileTransportOptions } from "./transports/wav-file-transport.js";
export {
  WebSocketTransport,
  WebSocketInputTransport,
  WebSocketOutputTransport,
} from "./transports/websocket/index.js";
export type {
  WebSocketTransportOptions,
  WebSocketTransportEvents,
  ClientDisconnectAction,
  RefusedMessageReason,
} from "./transports/websocket/index.js";

// Development server: the page, /start and one bot per WebSocket
export { startDevServer, DevServerListenError, DevServerWorkerError } from "./runner/dev-server.js";
export type {
  CreateSessionHandler,
  DevServerWorkerInfo,
  DevServerWorkers,
  SessionWorkerContext,
  DevServer,
  DevServerOptions,
  DevServerCloseOptions,
  DevServerCloseReport,
  DevServerTelephony,
  DevServerTelephonyEndpoint,
  DevSession,
  SessionHandler,
} from "./runner/dev-server.js";
export { runDevServer } from "./runner/run-dev-server.js";
export type { RunDevServerOptions } from "./runner/run-dev-server.js";
export { checkDevServerArgs } from "./runner/server-args.js";
export type { ServerAddress } from "./runner/server-args.js";
export { runSessionTask } from "./runner/session-task.js";

// Mixers
export { SoundfileMixer, MixerSoundError, clearSoundCache } from "./audio/mixers/soundfile-mixer.js";
export type { SoundfileMixerOptions } from "./audio/mixers/soundfile-mixer.js";
export type { AudioMixer, MixerStartContext } from "./audio/mixers/audio-mixer.js";

// Audio utilities (PCM16, G.711, WAV, resampling, input filters)
export {
  PcmFormatError,
  PCM16_MAX,
  PCM16_MIN,
  DEFAULT_SILENCE_THRESHOLD,
  mixAudio,
  applyGain,
  dbToGain,
  rms,
  dbfs,
  peak,
  isSilence,
  silence,
  interleave,
  deinterleave,
  downmixToMono,
  int16ToFloat32,
  float32ToInt16,
  bytesToInt16,
  int16ToBytes,
  linearToUlaw,
  ulawToLinear,
  linearToAlaw,
  alawToLinear,
  encodeUlaw,
  decodeUlaw,
  encodeAlaw,
  decodeAlaw,
  WavFileNotFoundError,
  NotAWavError,
  UnsupportedWavEncodingError,
  readWav,
  readWavFile,
  writeWav,
  writeWavFile,
  InvalidSampleRateError,
  ResamplerDisposedError,
  MIN_SAMPLE_RATE,
  MAX_SAMPLE_RATE,
  DEFAULT_RESAMPLER_QUALITY,
  RESAMPLER_MAX_EXTRA_FRAMES,
  createStreamResampler,
  resampleOnce,
  ResamplerError,
  AudioFilterNotStartedError,
  RNNoiseFilter,
  RNNoiseError,
} from "./audio/index.js";
export type {
  WavAudio,
  StreamResampler,
  StreamResamplerOptions,
  AudioFilter,
  RNNoiseFilterOptions,
} from "./audio/index.js";

// Voice activity detection (the Silero analyzer is in `voicepipe/audio/vad/silero`)
export {
  VADAnalyzer,
  DEFAULT_VAD_PARAMS,
  resolveVADParams,
  VADState,
  VADStateMachine,
  VolumeMeter,
  windowVolume,
  VADSampleRateError,
  VADInputError,
  VADAnalysisError,
  VADModelLoadError,
} from "./audio/vad/index.js";
export type {
  VADAnalyzerOptions,
  VADAnalysis,
  VADTransition,
  VADParams,
  VADStep,
} from "./audio/vad/index.js";
export { VADProcessor } from "./processors/vad-processor.js";
export { UserTurnProcessor } from "./processors/user-turn-processor.js";
export type {
  UserTurnProcessorOptions,
  UserTurnEvent,
  UserIdleEvent,
  UserTurnProcessorEvents,
  UserTurnStats,
} from "./processors/user-turn-processor.js";

// Turn-taking: when the user's turn starts and stops, when the user is muted (docs/design/turns.md)
export {
  TurnStrategy,
  UserTurnStartStrategy,
  VADStartStrategy,
  TranscriptionStartStrategy,
  MinWordsStartStrategy,
  UserTurnStopStrategy,
  VADStopStrategy,
  SpeechTimeoutStopStrategy,
  STTEndOfTurnStopStrategy,
  TurnAnalyzerStopStrategy,
  UserMuteStrategy,
  AlwaysMuteStrategy,
  FirstBotAnswerMuteStrategy,
  FunctionCallMuteStrategy,
} from "./turns/index.js";
export type {
  TurnInput,
  UserTurnHost,
  TranscriptionStartOptions,
  MinWordsStartOptions,
  SpeechTimeoutOptions,
  TurnAnalyzerStopOptions,
  TurnAnalyzerStats,
  BoundedMuteOptions,
} from "./turns/index.js";
export type { TurnAnalyzer, TurnVerdict } from "./audio/turn/turn-analyzer.js";

// The conversation: the user's turns and the assistant's played answers into the context (docs/design/conversation.md)
export {
  LLMUserAggregator,
  LLMAssistantAggregator,
  LLMContextAggregatorPair,
} from "./processors/aggregators/index.js";
export type {
  LLMUserAggregatorOptions,
  PreemptiveGenerationOptions,
  LLMUserAggregatorEvents,
  LLMAssistantAggregatorOptions,
  LLMAssistantAggregatorEvents,
  LLMContextAggregatorPairOptions,
} from "./processors/aggregators/index.js";
export type { VADProcessorOptions } from "./processors/vad-processor.js";

// Recording
export { AudioBufferProcessor, recordingToWav } from "./processors/audio-buffer-processor.js";
export type {
  AudioBufferProcessorOptions,
  AudioBufferProcessorEvents,
} from "./processors/audio-buffer-processor.js";

// Conversation context (the adapters to provider requests are in `voicepipe/context`)
export { LLMContext, defineTool } from "./context/index.js";
export type {
  LLMContextOptions,
  LLMContextSnapshot,
  FunctionSchema,
  ToolArguments,
  ToolChoice,
  JsonValue,
  JsonObject,
} from "./context/index.js";

// Text for speech (the TTS services build on these)
export { SentenceAggregator, DEFAULT_MAX_SENTENCE_CHARS } from "./services/tts/sentence-aggregator.js";
export type { SentenceAggregatorOptions } from "./services/tts/sentence-aggregator.js";
export { markdownToSpeakable } from "./services/tts/markdown-to-speakable.js";
export type { TextToSpeakable, TextToSpeakableFactory } from "./services/tts/text-to-speakable.js";

// The WebSocket a streaming provider service holds (reconnect, keep-alive, bounded close)
export { ProviderSocket, ProviderSocketError } from "./services/websocket/index.js";
export type {
  ProviderSocketOptions,
  ProviderSocketState,
  ProviderSocketStats,
  OpenInfo,
  DisconnectInfo,
  SocketData,
  SocketMessage,
  BackoffOptions,
} from "./services/websocket/index.js";

// Speech-to-text service bases (providers: `voicepipe/deepgram`)
export { STTService } from "./services/stt/stt-service.js";
export type {
  STTServiceOptions,
  STTServiceStats,
  TranscriptResult,
  STTConnectInfo,
  STTDisconnectInfo,
} from "./services/stt/stt-service.js";
export { SegmentedSTTService } from "./services/stt/segmented-stt-service.js";
export type { SegmentedSTTServiceOptions, SegmentInfo } from "./services/stt/segmented-stt-service.js";
export {
  MissingApiKeyError,
  STTBinaryNotFoundError,
  STTCommandFailedError,
} from "./services/stt/stt-errors.js";
export { PocketsphinxSTTService } from "./services/stt/pocketsphinx-stt-service.js";
export type { PocketsphinxSTTServiceOptions } from "./services/stt/pocketsphinx-stt-service.js";

// LLM service base (providers: `voicepipe/openai`)
export { LLMService, LLMServiceError } from "./services/llm/index.js";
export type {
  LLMServiceEvents,
  LLMServiceOptions,
  LLMFailure,
  LLMCompletionRequest,
  LLMCutShortReason,
  LLMStreamEvent,
  LLMUsage,
} from "./services/llm/index.js";

// Text-to-speech service base, and local speech from an installed espeak-ng, flite or piper
export { TTSService } from "./services/tts/tts-service.js";
export type {
  TTSServiceOptions,
  TTSServiceEvents,
  SynthesisOutput,
  SynthesisRequest,
  ContextEnd,
  WordTimestamp,
  WordTimestamps,
} from "./services/tts/tts-service.js";
export { CommandTTSService } from "./services/tts/command-tts-service.js";
export type {
  CommandTTSServiceOptions,
  CommandTTSServiceEvents,
  CommandRun,
} from "./services/tts/command-tts-service.js";
export { espeakNgCommand, fliteCommand, piperCommand } from "./services/tts/tts-commands.js";
export type { TTSCommand, EspeakNgOptions, FliteOptions, PiperOptions } from "./services/tts/tts-commands.js";
export {
  TTSBinaryNotFoundError,
  TTSModelNotFoundError,
  TTSCommandFailedError,
  TTSOutputError,
  TTSTimeoutError,
  TTSConnectionWaitError,
} from "./services/tts/tts-errors.js";
export { MissingTTSApiKeyError, TTSProviderError } from "./services/tts/tts-provider-errors.js";

// Function calling (docs/design/function-calls.md)
export type {
  FunctionCallContext,
  FunctionCallSettings,
  FunctionHandler,
  RegisterFunctionOptions,
} from "./services/llm/function-calls/index.js";

// Resilience and metrics (docs/design/resilience.md, docs/design/metrics.md)
export { ServiceSwitcher } from "./services/service-switcher.js";
export type {
  ServiceSwitchReason,
  ServiceSwitcherEvents,
  ServiceSwitcherOptions,
} from "./services/service-switcher.js";
export { LLMSwitcher } from "./services/service-switcher-llm.js";
export { ManuallySwitchServiceFrame } from "./services/service-switcher-frames.js";
export { TurnLatencyObserver, describeTurn } from "./observers/turn-latency.js";
export type { TurnLatency, TurnLatencyEvents, TurnLatencyObserverOptions } from "./observers/turn-latency.js";
export { EventLoopStallMonitor } from "./observers/event-loop-stall-monitor.js";
export type {
  EventLoopStall,
  EventLoopStallEvents,
  EventLoopStallMonitorOptions,
} from "./observers/event-loop-stall-monitor.js";
