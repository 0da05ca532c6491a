import type { Clock, TimerHandle } from "../clock/clock.js";
import type { Frame } from "../frames/frame.js";
import { BotSpeakingFrame, BotStartedSpeakingFrame, BotStoppedSpeakingFrame } from "../frames/speaking.js";

/**
 * Decides when the bot is speaking, from the bot audio the output actually plays (docs/design/output-pacing.md):
 * `BotStartedSpeakingFrame` on the first chunk, `BotSpeakingFrame` at most every
 * `speakingIntervalMs`, `BotStoppedSpeakingFrame` on `TTSStoppedFrame`, on interruption, or
 * when no bot audio was played for `fallbackMs`. Mixer-only audio is never reported to it.
 * Every notification is broadcast both ways.
 */
export class BotSpeakingDetector {
  #speaking = false;
  #lastSpeakingFrameAt = Number.NEGATIVE_INFINITY;
  #lastAudioAt = 0;
  #fallback: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly broadcast: (make: () => Frame) => void,
    private readonly fallbackMs: number,
    private readonly speakingIntervalMs = 200,
  ) {}

  get speaking(): boolean {
    return this.#speaking;
  }

  /** A chunk of bot audio was played. */
  onBotAudio(): void {
    const now = this.clock.now();
    this.#lastAudioAt = now;
    if (!this.#speaking) {
      this.#speaking = true;
      this.broadcast(() => new BotStartedSpeakingFrame());
      this.#armFallback(this.fallbackMs);
    }
    if (now - this.#lastSpeakingFrameAt >= this.speakingIntervalMs) {
      this.#lastSpeakingFrameAt = now;
      this.broadcast(() => new BotSpeakingFrame());
    }
  }

  /** The bot's turn ended (TTSStoppedFrame played, interruption, end of output). */
  stopped(): void {
    this.#fallback?.cancel();
    this.#fallback = undefined;
    if (!this.#speaking) return;
    this.#speaking = false;
    this.#lastSpeakingFrameAt = Number.NEGATIVE_INFINITY;
    this.broadcast(() => new BotStoppedSpeakingFrame());
  }

  /** Stops without notifying (cancel): clears the timer. */
  dispose(): void {
    this.#fallback?.cancel();
    this.#fallback = undefined;
    this.#speaking = false;
  }

  #armFallback(delayMs: number): void {
    this.#fallback = this.clock.setTimer(() => {
      this.#fallback = undefined;
      const quietFor = this.clock.now() - this.#lastAudioAt;
      if (quietFor >= this.fallbackMs) this.stopped();
      else this.#armFallback(this.fallbackMs - quietFor);
    }, delayMs);
  }
}
