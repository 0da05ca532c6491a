import { ControlFrame } from "./frame.js";

/** Why a speech-to-text provider said the user's utterance ended. */
export type STTEndOfTurnCause =
  /** Deepgram `speech_final`: its endpointing heard `endpointing` ms of silence after words. */
  | "speech_final"
  /** Deepgram `UtteranceEnd`: no word for `utterance_end_ms` after the last final word. */
  | "utterance_end"
  /** Any other provider's own end-of-turn signal. */
  | "provider";

/**
 * The speech-to-text provider decided that the user's utterance ended (its own endpointing,
 * not the local VAD). A *proposal*: the STT service emits it downstream, after the final
 * transcript it follows, and only a stop strategy (`STTEndOfTurnStopStrategy` in the
 * `UserTurnProcessor`) decides whether it ends the user's turn (docs/design/turns.md).
 *
 * A control frame, so it stays in order behind the `TranscriptionFrame`s before it.
 */
export class STTEndOfTurnFrame extends ControlFrame {
  constructor(
    /** What the provider said. */
    readonly cause: STTEndOfTurnCause,
    /** When it arrived, in ms of the task clock. */
    readonly timestampMs: number,
  ) {
    super();
  }
}
