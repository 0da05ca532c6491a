import { SystemFrame } from "./frame.js";

/** One measurement. */
export interface MetricsData {
  /** Processor that measured it. */
  readonly processor: string;
  /** What was measured, e.g. `ttfb`, `processing`, `llm_usage`. */
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
