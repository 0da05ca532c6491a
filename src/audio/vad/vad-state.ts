/**
 * Where a voice activity detector is (Pipecat's `VADState`):
 *
 * ```
 *            speech                 startMs of speech
 *   QUIET ───────────▶ STARTING ───────────────────▶ SPEAKING
 *     ▲                   │ silence                     │ silence
 *     │◀──────────────────┘                             ▼
 *     │        stopMs of silence                     STOPPING
 *     └───────────────────────────────────────────────┘ │ speech: back to SPEAKING
 * ```
 *
 * A start is reported on STARTING → SPEAKING, a stop on STOPPING → QUIET.
 */
export const VADState = {
  QUIET: "quiet",
  STARTING: "starting",
  SPEAKING: "speaking",
  STOPPING: "stopping",
} as const;
export type VADState = (typeof VADState)[keyof typeof VADState];
