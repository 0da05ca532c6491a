import { SystemFrame } from "./frame.js";

/** The user's turn started (decided by the turn strategy, not raw VAD). */
export class UserStartedSpeakingFrame extends SystemFrame {}
/** The user's turn ended. */
export class UserStoppedSpeakingFrame extends SystemFrame {}
/** The user is speaking (sent periodically; counts as activity for the idle timeout). */
export class UserSpeakingFrame extends SystemFrame {}
/** Voice activity detection heard speech start. */
export class VADUserStartedSpeakingFrame extends SystemFrame {
  constructor(
    /** `startMs` of the VAD params in force, so consumers can back-date the start. */
    readonly startMs = 0,
    readonly timestampMs = 0,
  ) {
    super();
  }
}
/** Voice activity detection heard speech stop. */
export class VADUserStoppedSpeakingFrame extends SystemFrame {
  constructor(
    readonly stopMs = 0,
    readonly timestampMs = 0,
  ) {
    super();
  }
}
/** The bot started playing speech (first TTS chunk written). */
export class BotStartedSpeakingFrame extends SystemFrame {}
/** The bot is playing speech (sent at most every 200 ms; counts as activity for the idle timeout). */
export class BotSpeakingFrame extends SystemFrame {}
/** The bot stopped playing speech. */
export class BotStoppedSpeakingFrame extends SystemFrame {}
