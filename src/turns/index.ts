/** Turn-taking strategies for the `UserTurnProcessor` (docs/design/turns.md). */
export { TurnStrategy, type TurnInput, type UserTurnHost } from "./turn-strategy.js";
export {
  UserTurnStartStrategy,
  VADStartStrategy,
  TranscriptionStartStrategy,
  MinWordsStartStrategy,
  type TranscriptionStartOptions,
  type MinWordsStartOptions,
} from "./start-strategies.js";
export {
  UserTurnStopStrategy,
  VADStopStrategy,
  SpeechTimeoutStopStrategy,
  STTEndOfTurnStopStrategy,
  type SpeechTimeoutOptions,
} from "./stop-strategies.js";
export {
  TurnAnalyzerStopStrategy,
  type TurnAnalyzerStopOptions,
  type TurnAnalyzerStats,
} from "./turn-analyzer-stop-strategy.js";
export {
  UserMuteStrategy,
  AlwaysMuteStrategy,
  FirstBotAnswerMuteStrategy,
  FunctionCallMuteStrategy,
  type BoundedMuteOptions,
} from "./mute-strategies.js";
