import { SystemFrame } from "./frame.js";

/** One measurement. */
export interface MetricsData {
  /** Processor that measured it. */
  readonly processor: string;
  /**
   * What was measured: `ttfb`, `processing`, or the usage of a service kind, `llm_usage` (tokens),
   * `tts_usage` (characters) or `stt_usage` (audio seconds). The RTVI observer sends the first four
   * to the client as `ttfb`, `processing`, `tokens` and `characters`.
   */
  readonly kind: string;
  /** The value; durations in ms. */
  readonly value: number | Record<string, number>;
  readonly model?: string;
}

/** Metrics reported by processors. */
export class MetricsFrame extends SystemFrame {
  constructor(readonly data: readonly MetricsData[]) {
    super();
  }
}
