import { VoicepipeError } from "../../errors.js";

/** `filter()` was called before `start()` or after `stop()`. */
export class AudioFilterNotStartedError extends VoicepipeError {
  readonly code = "VP_AUDIO_FILTER_NOT_STARTED";
  constructor(readonly filterName: string) {
    super(`${filterName}.filter() was called while the filter is not started; call start(sampleRate) first`);
  }
}

/**
 * A filter for input audio (noise suppression, echo cancellation…), run by the input transport on
 * raw audio before resampling and VAD (`audioInFilter`, docs/design/input-transport.md). Mono PCM16 at the transport's
 * input rate.
 *
 * Lifecycle: `start(sampleRate)` → any number of `filter()` calls → `stop()`. A stopped filter may
 * be started again.
 *
 * @example
 * const filter = new RNNoiseFilter();
 * await filter.start(16000);
 * const clean = filter.filter(micChunk); // may be shorter than micChunk, even empty
 * await filter.stop();
 */
export interface AudioFilter {
  /**
   * Whether the filter processes audio. When `false`, `filter()` returns its input unchanged.
   * Implementations drop any partly buffered audio when this changes, so no stale audio is
   * replayed. @default true
   */
  enabled: boolean;
  /** Prepares the filter for mono audio at `sampleRate` Hz (loads models, allocates state). */
  start(sampleRate: number): Promise<void>;
  /**
   * Filters the next chunk of the stream. May buffer internally (e.g. to whole 10 ms frames) and
   * so return fewer samples than given, possibly none; over a stream, output lags input by at most
   * the filter's documented latency. Never modifies `chunk`.
   */
  filter(chunk: Int16Array): Int16Array;
  /** Releases the filter's state. Idempotent. */
  stop(): Promise<void>;
}
