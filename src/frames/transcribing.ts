import { ControlFrame, SystemFrame } from "./frame.js";

/**
 * What the two frames of a pending transcription carry: the running totals of one STT service.
 * Totals, not deltas, so a reader that missed a frame, or got two out of order (they travel in
 * different lanes), is right again at the next one: `requested - settled` is what is still pending.
 */
export interface TranscriptionTotals {
  /** The id of the STT service that sent it (`FrameProcessor.id`): totals of different services never mix. */
  readonly sourceId: number;
  /** That service's name, for logs. */
  readonly source: string;
  /** Transcriptions this service has asked for since its start. */
  readonly requested: number;
  /** Of those, how many have been answered (with words, with nothing, with an error, or timed out). */
  readonly settled: number;
}

/**
 * A speech-to-text service has sent audio of the user's speech for transcription, and the result
 * is not back yet (a segmented STT: one request per VAD segment; docs/design/stt-services.md). The
 * user aggregator reads it as "a final transcript is still coming" and, at the turn's stop, waits
 * for it (docs/design/conversation.md). It holds no words: it never starts a turn and counts as no
 * transcript for the turn strategies.
 *
 * A system frame: the service pushes it while handling the user's stop, before passing the stop on,
 * so it reaches the aggregator ahead of the `UserStoppedSpeakingFrame` a stop strategy decides from
 * that stop (a data frame could be overtaken by that system frame in a queued processor).
 */
export class TranscriptionPendingFrame extends SystemFrame implements TranscriptionTotals {
  constructor(
    readonly sourceId: number,
    readonly source: string,
    readonly requested: number,
    readonly settled: number,
  ) {
    super();
  }
}

/**
 * A transcription announced by a {@link TranscriptionPendingFrame} has been answered. Its
 * `TranscriptionFrame`, if it had words, went just before this frame; an empty answer, a failed
 * request or one past its deadline sends this frame alone, so nobody waits for words that will not
 * come.
 *
 * A control frame, so it stays behind the `TranscriptionFrame` it follows (a system frame could
 * overtake it and announce "done" before the words). Uninterruptible: an interruption (the user's
 * own barge-in) never drops it from a queue, so a pending transcription cannot be left open.
 */
export class TranscriptionSettledFrame extends ControlFrame implements TranscriptionTotals {
  static override readonly uninterruptible = true;

  constructor(
    readonly sourceId: number,
    readonly source: string,
    readonly requested: number,
    readonly settled: number,
  ) {
    super();
  }
}
