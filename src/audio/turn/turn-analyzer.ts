/**
 * What a turn analyzer decided about the user's turn heard so far.
 */
export interface TurnVerdict {
  /** Whether the user has finished their turn (the bot may answer). */
  readonly complete: boolean;
  /** The model's probability that the turn is complete, 0 to 1. */
  readonly probability: number;
  /** How long the analysis took, in ms of the clock the analyzer was given (for metrics). */
  readonly inferenceMs: number;
}

/**
 * Decides from the user's audio whether a pause ends their turn or is only a pause (an
 * end-of-turn model such as Smart Turn). A stop strategy feeds it the audio of the user's turn
 * and asks it for a verdict when the VAD hears the user stop; a turn analyzer never decides on
 * its own when to run.
 *
 * Contract (so every analyzer can be swapped for another):
 * - {@link appendAudio} takes mono 16-bit PCM at {@link sampleRate} (the caller converts) and
 *   keeps a bounded window of it (the newest audio); it never grows with the turn's length.
 * - {@link analyze} looks at the audio appended since the last {@link clear}, and settles within
 *   the analyzer's own deadline: it rejects with an error that says what failed (the caller then
 *   ends the turn on its fallback), or with `signal.reason` once `signal` aborts.
 * - {@link clear} forgets the turn's audio (the turn ended, or was abandoned).
 */
export interface TurnAnalyzer {
  /** The sample rate {@link appendAudio} takes, in Hz. */
  readonly sampleRate: number;
  /**
   * Adds audio of the user's turn. `isSpeech` is the VAD's view of it: an analyzer may use it to
   * trim the silence before the turn began.
   */
  appendAudio(audio: Int16Array, isSpeech: boolean): void;
  /** Decides whether the turn heard since the last {@link clear} is complete. */
  analyze(signal: AbortSignal): Promise<TurnVerdict>;
  /** Forgets the audio of the turn. */
  clear(): void;
  /** Loads what the analyzer needs (a model), once; later calls return the same promise. */
  load?(signal: AbortSignal): Promise<void>;
  /** Releases what {@link load} took. Idempotent. */
  release?(): Promise<void>;
}
