import type { AudioMixer, Clock, MixerControlFrame } from "../../src/index.js";
import { MixerEnableFrame } from "../../src/index.js";

/**
 * An AudioMixer that adds a constant offset (so mixed-in audio is recognisable) and records
 * when it was called. Implements the real interface the output transport drives.
 */
export class CountingMixer implements AudioMixer {
  readonly calls: number[] = [];
  started = 0;
  stopped = 0;
  enabled = true;
  constructor(
    private readonly clock: Clock | (() => Clock),
    readonly level = 100,
  ) {}
  get active(): boolean {
    return this.enabled && this.started > this.stopped;
  }
  start(): void {
    this.started++;
  }
  stop(): void {
    this.stopped++;
  }
  processFrame(frame: MixerControlFrame): void {
    if (frame instanceof MixerEnableFrame) this.enabled = frame.enable;
  }
  mix(audio: Int16Array): Int16Array {
    const clock = typeof this.clock === "function" ? this.clock() : this.clock;
    this.calls.push(clock.now());
    if (!this.enabled) return audio;
    const out = new Int16Array(audio.length);
    for (let i = 0; i < audio.length; i++) out[i] = Math.min(32767, audio[i]! + this.level);
    return out;
  }
}
