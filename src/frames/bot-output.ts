import { ControlFrame, DataFrame } from "./frame.js";

/** How far the bot has got in speaking a {@link BotOutputFrame}'s text. */
export type BotOutputSpokenStatus = "new" | "in-progress" | "completed";

/** Fields of a {@link BotOutputFrame}. */
export interface BotOutputInit {
  /** The text (a whole sentence, or the unit named by `aggregatedBy`). */
  text: string;
  /** What the text is a unit of: `"sentence"`, `"word"`, `"token"`, or an app's own name. @default "sentence" */
  aggregatedBy?: string;
  /** Identifies the segment across its progress updates. */
  segmentId?: string;
  /** Whether the text will be (or was) spoken; false for text shown but not said. @default true */
  willBeSpoken?: boolean;
  /** Progress of speaking it. @default "new" */
  spokenStatus?: BotOutputSpokenStatus;
  /** With `"in-progress"`: what has been spoken so far and what remains. */
  spokenProgress?: { accumulatedText: string; remainingText: string };
}

/**
 * A piece of the bot's transcript for the client's UI (RTVI `bot-output`). A data frame: pushed
 * ahead of the audio it describes, it is released by the output transport in step with that
 * audio, and the RTVI observer reports it there, so the client learns of text as it is heard.
 * An interruption drops it with the audio it belonged to.
 */
export class BotOutputFrame extends DataFrame {
  readonly text: string;
  readonly aggregatedBy: string;
  readonly segmentId: string | undefined;
  readonly willBeSpoken: boolean;
  readonly spokenStatus: BotOutputSpokenStatus;
  readonly spokenProgress: { readonly accumulatedText: string; readonly remainingText: string } | undefined;

  constructor(init: BotOutputInit) {
    super();
    this.text = init.text;
    this.aggregatedBy = init.aggregatedBy ?? "sentence";
    this.segmentId = init.segmentId;
    this.willBeSpoken = init.willBeSpoken ?? true;
    this.spokenStatus = init.spokenStatus ?? "new";
    this.spokenProgress = init.spokenProgress;
  }
}

/**
 * Tells the LLM service how to treat the output of the runs that follow, in order: with
 * `skipTts` its text goes to the client but is not spoken (RTVI `send-text` with
 * `audio_response: false`), until a frame with `skipTts: false`.
 */
export class LLMConfigureOutputFrame extends ControlFrame {
  constructor(readonly skipTts: boolean) {
    super();
  }
}
