import type { MixerControlFrame } from "../../frames/mixer.js";

/**
 * Mixes background sound into outgoing audio (DESIGN §6). The output transport owns it: it
 * calls {@link start} when it starts, {@link mix} once per chunk on its clock ticks (with
 * silence when nothing is queued), and {@link stop} when it ends, is cancelled or loses its
 * sink. A mixer never paces anything and never runs on its own.
 */
export interface AudioMixer {
  /** Prepares for output at `sampleRate` Hz with `numChannels` interleaved channels. */
  start(sampleRate: number, numChannels: number): void | Promise<void>;
  /** Releases what `start` acquired. Idempotent. */
  stop(): void | Promise<void>;
  /** Applies a run-time control frame (sound, volume, looping, on/off). */
  processFrame(frame: MixerControlFrame): void | Promise<void>;
  /**
   * Returns `audio` with the background mixed in (a new array, or `audio` itself when there is
   * nothing to mix). Pure CPU work, synchronous by design: called on every tick.
   */
  mix(audio: Int16Array): Int16Array;
  /**
   * Whether the mixer currently produces sound of its own. While true, the output transport
   * ticks even with nothing queued (writing mixed silence); while false it may idle.
   */
  readonly active: boolean;
}
