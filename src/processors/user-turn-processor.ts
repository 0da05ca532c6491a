import { type Frame, FrameDirection } from "../frames/frame.js";
import { InterruptionTaskFrame } from "../frames/lifecycle.js";
import {
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../frames/speaking.js";
import { FrameProcessor, type FrameProcessorOptions } from "./frame-processor.js";

/** Options of {@link UserTurnProcessor}. */
export interface UserTurnProcessorOptions extends Omit<FrameProcessorOptions, "direct"> {
  /**
   * Whether the user starting to speak interrupts the bot (barge-in): the processor asks the
   * task for an interruption, which drops the bot's queued audio and text everywhere.
   * @default true
   */
  interruptions?: boolean;
}

/**
 * Decides the user's turns from voice activity (the simplest turn strategy): a
 * `VADUserStartedSpeakingFrame` coming down starts the user's turn, a `VADUserStoppedSpeakingFrame`
 * ends it. It broadcasts `UserStartedSpeakingFrame` / `UserStoppedSpeakingFrame` both ways (the
 * client hears of them through RTVI, the bot's processors downstream act on them) and, with
 * `interruptions`, asks the task to interrupt when a turn starts (docs/design/interruption.md).
 *
 * Guarantees: starts and stops alternate (a second start without a stop, or a stop without a
 * start, is only forwarded); the VAD frames themselves are forwarded unchanged. Put it right
 * after the `VADProcessor`.
 *
 * @example
 * new Pipeline([transport.input(), vad, new UserTurnProcessor(), bot, transport.output()]);
 */
export class UserTurnProcessor extends FrameProcessor {
  /** Whether a user turn starting interrupts the bot. */
  readonly interruptions: boolean;
  /** User turns started so far. */
  turns = 0;
  #inTurn = false;

  constructor(options: UserTurnProcessorOptions = {}) {
    super({ ...options, direct: false });
    this.interruptions = options.interruptions ?? true;
  }

  override async processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): Promise<void> {
    await super.processFrame(frame, direction, signal);
    if (direction !== FrameDirection.DOWNSTREAM) return;
    if (frame instanceof VADUserStartedSpeakingFrame && !this.#inTurn) {
      this.#inTurn = true;
      this.turns++;
      await this.broadcastFrame(() => new UserStartedSpeakingFrame());
      // The task pushes the interruption from the head of the pipeline, so it passes every
      // processor (the transport's input included) in order.
      if (this.interruptions) await this.pushFrame(new InterruptionTaskFrame(), FrameDirection.UPSTREAM);
    } else if (frame instanceof VADUserStoppedSpeakingFrame && this.#inTurn) {
      this.#inTurn = false;
      await this.broadcastFrame(() => new UserStoppedSpeakingFrame());
    }
  }
}
