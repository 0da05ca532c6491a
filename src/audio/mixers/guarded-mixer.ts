import type { Clock } from "../../clock/clock.js";
import type { MixerControlFrame } from "../../frames/mixer.js";
import { describe } from "../../errors.js";
import { DeadlineExceededError, withDeadline } from "../../transports/deadline.js";
import type { AudioMixer } from "./audio-mixer.js";

/** Which output destination uses a mixer object right now (one at a time). */
const owners = new WeakMap<AudioMixer, string>();

/** What a {@link GuardedMixer} needs from the output that owns it. */
export interface MixerGuardOptions {
  readonly clock: Clock;
  /** Longest wait for `start()`, `processFrame()` and `stop()`, in ms. */
  readonly timeoutMs: number;
  /** Who uses the mixer, for messages: e.g. `memory-output[avatar]`. */
  readonly owner: string;
  /**
   * Reports a problem. Most are said once because the mixer is then turned off; a refused control
   * frame is not, so those come with a `cause` (one per frame class): say the first, count the rest.
   */
  readonly report: (message: string, cause?: string) => void;
}

type MixerState = "created" | "starting" | "on" | "off" | "stopped";

/**
 * Runs an {@link AudioMixer} for one output destination so that nothing the mixer does can
 * stop the audio: a `start()` that throws, rejects or overruns `timeoutMs`, a `mix()` that
 * throws or returns anything but an `Int16Array` of the chunk's length, an `active` getter that
 * throws, a `processFrame()` that overruns its deadline: each turns the mixer off, is reported
 * once, and the output goes on without background sound. A control frame the mixer refuses
 * (throws or rejects) is reported and the mixer stays on. One mixer object serves one
 * destination at a time: a mixer already in use elsewhere is reported and left alone.
 */
export class GuardedMixer {
  #state: MixerState = "created";
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #claimed = false;
  /** The mixer's own start() has not settled yet (it may outlive its deadline or an abort). */
  #startPending = false;
  #lateStart: Promise<void> | undefined;
  /** Why the mixer was turned off, if it was. */
  failure: string | undefined;

  constructor(
    readonly mixer: AudioMixer,
    private readonly options: MixerGuardOptions,
  ) {}

  /** Whether the mixer is started and has not failed or been stopped. */
  get on(): boolean {
    return this.#state === "on";
  }

  /** Whether the mixer produces sound now (false once it failed or stopped, or if `active` throws). */
  get active(): boolean {
    if (this.#state !== "on") return false;
    try {
      return this.mixer.active === true;
    } catch (error) {
      this.#turnOff(`its active property threw: ${describe(error)}`);
      return false;
    }
  }

  /**
   * Starts the mixer for output at `sampleRate` with `numChannels`, within `timeoutMs`.
   * Resolves either way (the mixer is on or off after it); rejects only with `signal.reason`.
   */
  start(sampleRate: number, numChannels: number, signal: AbortSignal): Promise<void> {
    if (this.#state !== "created") return this.#starting ?? Promise.resolve();
    const other = owners.get(this.mixer);
    if (other !== undefined) {
      this.#turnOff(
        `it is already in use by ${other}; a mixer keeps one playback position, so give each output destination its own mixer`,
      );
      return Promise.resolve();
    }
    owners.set(this.mixer, this.options.owner);
    this.#claimed = true;
    this.#state = "starting";
    const { clock, timeoutMs } = this.options;
    let raw: Promise<void> | void;
    try {
      raw = this.mixer.start(sampleRate, numChannels, { clock, signal });
    } catch (error) {
      this.#turnOff(`it failed to start: ${reason(error)}`);
      return Promise.resolve();
    }
    if (typeof (raw as Promise<void> | undefined)?.then === "function") {
      const settled = Promise.resolve(raw).then(
        () => undefined,
        () => undefined,
      );
      this.#startPending = true;
      void settled.then(() => {
        this.#startPending = false;
      });
      this.#lateStart = settled;
    }
    this.#starting = withDeadline(
      clock,
      raw,
      timeoutMs,
      `${this.options.owner}: the mixer's start()`,
      signal,
    ).then(
      () => {
        if (this.#state === "starting") this.#state = "on";
      },
      (error: unknown) => {
        if (signal.aborted) throw signal.reason;
        this.#turnOff(`it failed to start: ${reason(error)}`);
      },
    );
    return this.#starting;
  }

  /**
   * Returns `audio` with the background mixed in, or `audio` itself when the mixer is off or
   * misbehaves (then it is turned off). Always an `Int16Array` of `audio.length` samples.
   */
  mix(audio: Int16Array): Int16Array {
    if (this.#state !== "on") return audio;
    let out: unknown;
    try {
      out = this.mixer.mix(audio);
    } catch (error) {
      this.#turnOff(`mix() threw: ${describe(error)}`);
      return audio;
    }
    if (out instanceof Int16Array && out.length === audio.length) return out;
    if (typeof (out as { then?: unknown } | null)?.then === "function") {
      (out as Promise<unknown>).then(undefined, () => undefined);
      this.#turnOff("mix() returned a Promise; mix must be synchronous and return an Int16Array");
    } else {
      this.#turnOff(`mix() returned ${shape(out)} instead of an Int16Array of ${audio.length} samples`);
    }
    return audio;
  }

  /** Applies a control frame within `timeoutMs`. A mixer that overruns it is turned off. */
  async control(frame: MixerControlFrame): Promise<void> {
    if (this.#state === "starting") await this.#starting?.catch(() => undefined);
    if (this.#state !== "on") return;
    try {
      await withDeadline(
        this.options.clock,
        () => this.mixer.processFrame(frame),
        this.options.timeoutMs,
        `${this.options.owner}: the mixer's processFrame(${frame.name})`,
      );
    } catch (error) {
      if (error instanceof DeadlineExceededError) this.#turnOff(`processFrame(${frame.name}) never settled`);
      else
        this.options.report(
          `${this.options.owner}: the mixer refused ${frame.constructor.name}: ${describe(error)}`,
          `mixer-refused:${frame.constructor.name}`,
        );
    }
  }

  /**
   * Stops the mixer (once; later calls return the same promise), within `timeoutMs`, and frees
   * it for another output. A start still under way is waited for (it has its own deadline).
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const wasStarted = this.#state !== "created";
    this.#state = "stopped";
    try {
      if (!this.#claimed || !wasStarted) return;
      if (this.#startPending) {
        // A start that ignored its deadline or the cancel: stop the mixer again once it settles,
        // so it never ends up started with nobody to stop it. Mixers never run on their own, so
        // nothing is produced in between.
        void this.#lateStart?.then(() => {
          try {
            void Promise.resolve(this.mixer.stop()).catch(() => undefined);
          } catch {
            // reported by the first stop, if at all
          }
        });
      }
      await withDeadline(
        this.options.clock,
        () => this.mixer.stop(),
        this.options.timeoutMs,
        `${this.options.owner}: the mixer's stop()`,
      );
    } catch (error) {
      this.options.report(`${this.options.owner}: the mixer failed to stop: ${reason(error)}`);
    } finally {
      if (this.#claimed && owners.get(this.mixer) === this.options.owner) owners.delete(this.mixer);
      this.#claimed = false;
    }
  }

  #turnOff(why: string): void {
    if (this.#state === "off" || this.#state === "stopped") return;
    this.#state = "off";
    this.failure = why;
    this.options.report(`${this.options.owner}: the mixer was turned off (${why}); audio goes on without it`);
  }
}

function reason(error: unknown): string {
  return error instanceof DeadlineExceededError
    ? `it did not settle within ${error.timeoutMs} ms`
    : describe(error);
}

function shape(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (ArrayBuffer.isView(value)) {
    const length = (value as unknown as { length?: number }).length;
    return `a ${value.constructor.name}${length === undefined ? "" : ` of ${length} samples`}`;
  }
  if (Array.isArray(value)) return `an Array of ${value.length} items`;
  return typeof value === "object"
    ? `an object of type ${value.constructor?.name ?? "Object"}`
    : `a ${typeof value}`;
}
