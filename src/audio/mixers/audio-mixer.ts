import type { Clock } from "../../clock/clock.js";
import type { MixerControlFrame } from "../../frames/mixer.js";
import { InvalidOptionError } from "../../errors.js";

/**
 * Mixes background sound into outgoing audio (docs/design/output-pacing.md). The output
 * transport owns it: it calls {@link start} when it starts, {@link mix} at most once per chunk
 * on its clock ticks (with silence when nothing is queued), and {@link stop} when it ends, is
 * cancelled or loses its sink. A mixer never paces anything and never runs on its own.
 *
 * One mixer object serves one output destination of one running output at a time (it keeps one
 * playback position); the output refuses a mixer that is already in use.
 *
 * Whatever a mixer does wrong (throws, rejects, never settles, returns the wrong type or length)
 * the output turns it off, reports it once, and the audio goes on without it.
 */
export interface AudioMixer {
  /**
   * Prepares for output at `sampleRate` Hz with `numChannels` interleaved channels. May be
   * async (reading sound files); the output gives it `audioOutMixerTimeoutMs`. Mark real I/O
   * with `context.clock.track()` (so a `VirtualClock` waits for it instead of letting the
   * deadline fire in virtual time) and give up when `context.signal` aborts (cancel).
   */
  start(sampleRate: number, numChannels: number, context?: MixerStartContext): void | Promise<void>;
  /** Releases what `start` acquired. Idempotent. */
  stop(): void | Promise<void>;
  /** Applies a run-time control frame (sound, volume, looping, on/off). */
  processFrame(frame: MixerControlFrame): void | Promise<void>;
  /**
   * Returns `audio` with the background mixed in: an `Int16Array` of exactly `audio.length`
   * samples (a new array, or `audio` itself when there is nothing to mix). Pure CPU work,
   * synchronous by design: called on every tick.
   */
  mix(audio: Int16Array): Int16Array;
  /**
   * Whether the mixer currently produces sound of its own. While true, the output transport
   * ticks even with nothing queued (writing mixed silence); while false it may idle.
   */
  readonly active: boolean;
}

/** What the output hands a mixer's `start()`. */
export interface MixerStartContext {
  /** The task's clock: mark real I/O with `clock.track()`. */
  readonly clock: Clock;
  /** Aborted when the output is cancelled or torn down while the mixer starts. */
  readonly signal: AbortSignal;
}

const METHODS = ["start", "stop", "processFrame", "mix"] as const;

/**
 * Checks that `value` has the shape of an {@link AudioMixer} (its four methods and the `active`
 * property), so a mixer that would silently never be called is refused where it is given.
 * `setting` names the option in the error.
 */
export function checkAudioMixer(value: unknown, setting: string): AudioMixer {
  if (value === null || typeof value !== "object") {
    throw new InvalidOptionError(
      `${setting} must be an AudioMixer (an object with start, stop, processFrame, mix and active; ` +
        `e.g. a SoundfileMixer); got ${value === null ? "null" : typeof value}`,
    );
  }
  const missing: string[] = METHODS.filter(
    (m) => typeof (value as Record<string, unknown>)[m] !== "function",
  ).map((m) => `${m}()`);
  if (!("active" in value)) missing.push("active");
  if (missing.length > 0) {
    throw new InvalidOptionError(
      `${setting} is not an AudioMixer: it has no ${missing.join(", ")}. A mixer needs start(sampleRate, numChannels), ` +
        "stop(), processFrame(frame), mix(audio) and an `active` property (true while it produces sound); " +
        "without `active` the output would never call it",
    );
  }
  return value as AudioMixer;
}
