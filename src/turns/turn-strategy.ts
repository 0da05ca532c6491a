import type { Clock } from "../clock/clock.js";
import { InvalidOptionError } from "../errors.js";
import type { Logger } from "../logger.js";

/**
 * What the `UserTurnProcessor` tells its strategies, in the order it learns it. The VAD's state
 * and the bot's are not events a strategy must remember: it reads them from the host
 * ({@link UserTurnHost.vadSpeaking}), which owns them and never resets them at a turn boundary.
 */
export type TurnInput =
  | { readonly kind: "vad-started" }
  | { readonly kind: "vad-stopped" }
  | { readonly kind: "transcript"; readonly text: string; readonly final: boolean }
  | { readonly kind: "stt-end-of-turn"; readonly cause: string };

/**
 * The processor, as its strategies see it: the clock, the state it owns, and the verbs a
 * strategy may call. A strategy never pushes frames; it asks the host.
 */
export interface UserTurnHost {
  /** The task's clock: every timer of a strategy runs on it. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** The processor's name, for messages. */
  readonly name: string;
  /** A user turn is in progress. */
  readonly inTurn: boolean;
  /** The VAD hears the user (between a `VADUserStartedSpeakingFrame` and its stop), turn or not. */
  readonly vadSpeaking: boolean;
  /** The bot is playing speech (between `BotStartedSpeakingFrame` and `BotStoppedSpeakingFrame`). */
  readonly botSpeaking: boolean;
  /** Ends the user's turn now (ignored outside a turn); `reason` goes to the event and the log. */
  endTurn(strategy: string, reason: string): void;
  /** A mute strategy's state changed outside a frame (its deadline): look again. */
  refreshMute(): void;
  /** Says a problem once per `cause` (a warning), then counts repeats. */
  reportOnce(cause: string, message: () => string): void;
}

/**
 * What every strategy shares: it belongs to one processor (it holds that stream's state), which
 * attaches it, starts it (load a model) and stops it (cancel timers, release what it took).
 * Subclasses override the verbs they need; none has to call `super`.
 */
export abstract class TurnStrategy {
  #host: UserTurnHost | undefined;

  /** The strategy's name in events and logs. @default the class name */
  get name(): string {
    return this.constructor.name;
  }

  /** Called by the processor once, at construction. @internal */
  attach(host: UserTurnHost): void {
    if (this.#host !== undefined && this.#host !== host) {
      throw new InvalidOptionError(
        `${host.name}: the ${this.name} given is already used by ${this.#host.name}; a strategy holds one ` +
          "stream's state, so give each UserTurnProcessor its own strategy objects",
      );
    }
    this.#host = host;
  }

  /** The processor this strategy works for (set before any verb is called). */
  protected get host(): UserTurnHost {
    if (!this.#host) throw new Error(`${this.name} is not attached to a UserTurnProcessor`);
    return this.#host;
  }

  /**
   * The pipeline starts: load what the strategy needs. Not bounded by the processor: bound it
   * yourself (as `TurnAnalyzerStopStrategy` does with `loadTimeoutMs`), or the task's
   * `startTimeoutMs` (20 s) cancels the whole session. @default nothing
   */
  start(_signal: AbortSignal): void | Promise<void> {}

  /** The processor ends, is cancelled or torn down: cancel timers, release resources. Idempotent. */
  stop(): void | Promise<void> {}
}

/** Throws an {@link InvalidOptionError} unless `value` is a finite number of ms in [min, max]. */
export function checkMs(owner: string, option: string, value: number, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidOptionError(
      `${owner}: ${option} must be a number of ms from ${min} to ${max} (got ${String(value)})`,
    );
  }
  return value;
}

/** Words in a transcript: runs of non-space characters. */
export function countWords(text: string): number {
  const trimmed = text.trim();
  return trimmed === "" ? 0 : trimmed.split(/\s+/u).length;
}
