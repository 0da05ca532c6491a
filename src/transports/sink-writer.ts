import type { Clock } from "../clock/clock.js";
import type { OutputAudioRawFrame } from "../frames/audio.js";
import { describe } from "../errors.js";
import type { RepeatReporter } from "../reporting/repeat-reporter.js";
import { CallDeadline, DeadlineExceededError, withDeadline } from "./deadline.js";

/** Consecutive throwing writes after which the sink is treated as closed. */
export const MAX_WRITE_ERRORS = 5;

/** What a call to the client came to: done, or not, and whether the sink must now be closed (and why). */
export type SinkResult = { readonly ok: true } | { readonly ok: false; readonly closeSink?: string };

const OK: SinkResult = Object.freeze({ ok: true });

/** What a {@link SinkWriter} needs from its sender. */
export interface SinkWriterHost {
  readonly clock: Clock;
  /** Name for messages: `transport[destination]`. */
  readonly name: string;
  writeAudio(frame: OutputAudioRawFrame): Promise<boolean>;
  /** Reports an error upstream. */
  error(message: string): void;
}

/**
 * Makes one destination's calls to the client and judges their outcome (docs/design/output-pacing.md):
 * a write that returns false closes the sink; one that overruns `timeoutMs` closes it as
 * stalled; one that throws is reported, and {@link MAX_WRITE_ERRORS} in a row close it. The
 * write deadline costs one timer for the whole stream of writes (a {@link CallDeadline}), not
 * one per write.
 */
export class SinkWriter {
  readonly #deadline: CallDeadline;
  #errorsInARow = 0;

  constructor(
    private readonly host: SinkWriterHost,
    private readonly timeoutMs: number,
    private readonly errors: RepeatReporter,
  ) {
    this.#deadline = new CallDeadline(host.clock, timeoutMs);
  }

  /** Writes one chunk. */
  async writeAudio(frame: OutputAudioRawFrame): Promise<SinkResult> {
    const { name } = this.host;
    try {
      const outcome = await this.#deadline.run(() => this.host.writeAudio(frame), `${name}: writeAudio`);
      this.#errorsInARow = 0;
      if (outcome === false) return { ok: false, closeSink: "writeAudio returned false" };
      if (outcome !== true) {
        this.errors.reportOnce(
          "write-result",
          () =>
            `${name}: writeAudio must resolve to true (written) or false (sink closed); got ${String(outcome)}, taken as written`,
          "warn",
        );
      }
      return OK;
    } catch (error) {
      if (error instanceof DeadlineExceededError) {
        this.host.error(
          `${name}: the sink did not accept audio within ${this.timeoutMs} ms; stopping output`,
        );
        return { ok: false, closeSink: "write stalled" };
      }
      // Said once, then counted: a flaky sink that throws on every other write is not closed (the
      // throws are not in a row) and must not send an error upstream per chunk.
      this.errors.reportOnce("write-threw", () => `${name}: writeAudio threw: ${describe(error)}`, "warn");
      if (++this.#errorsInARow >= MAX_WRITE_ERRORS) {
        return { ok: false, closeSink: `${MAX_WRITE_ERRORS} writes in a row threw` };
      }
      return { ok: false };
    }
  }

  /** Any other call to the client (e.g. clearing its buffer): a failure is reported once, a stall closes the sink. */
  async call(what: string, call: () => void | Promise<void>): Promise<SinkResult> {
    const { clock, name } = this.host;
    try {
      await withDeadline(clock, call, this.timeoutMs, `${name}: ${what}`);
      return OK;
    } catch (error) {
      this.errors.reportOnce(what, () => `${name}: failed ${what}: ${describe(error)}`, "warn");
      return error instanceof DeadlineExceededError
        ? { ok: false, closeSink: `${what} stalled` }
        : { ok: false };
    }
  }

  /** Clears the deadline's timer. */
  dispose(): void {
    this.#deadline.dispose();
  }
}
