import type { Clock } from "../clock/clock.js";
import type { Frame } from "../frames/frame.js";
import type { Logger } from "../logger.js";
import type { Observer } from "../observers/observer.js";
import { InvalidOptionError } from "../errors.js";
import {
  checkBoolean,
  checkDurationMs,
  checkKnownKeys,
  checkSampleRate,
} from "../transports/param-checks.js";

/** Pipeline-wide parameters, sent to every processor with `StartFrame` where relevant. */
export interface PipelineParams {
  /** Sample rate of audio entering the pipeline, in Hz (integer, 1000 … 768000). @default 16000 */
  audioInSampleRate: number;
  /** Sample rate of audio leaving the pipeline, in Hz (integer, 1000 … 768000). @default 24000 */
  audioOutSampleRate: number;
  /** Send `HeartbeatFrame`s through the pipeline to detect stalled lanes. @default false */
  enableHeartbeats: boolean;
  /** Interval between heartbeats, in ms (> 0). @default 1000 */
  heartbeatsPeriodMs: number;
  /** A `heartbeatTimeout` event fires when no heartbeat has come through for this long, in ms (> 0). @default 10000 */
  heartbeatsMonitorMs: number;
}

/** The default {@link PipelineParams}. */
export const DEFAULT_PIPELINE_PARAMS: Readonly<PipelineParams> = Object.freeze({
  audioInSampleRate: 16_000,
  audioOutSampleRate: 24_000,
  enableHeartbeats: false,
  heartbeatsPeriodMs: 1_000,
  heartbeatsMonitorMs: 10_000,
});

/**
 * Fills in defaults and checks every pipeline parameter where it is given, with an error that
 * names the setting, the accepted range and what it got: rates are integer Hz from 1000 to
 * 768000 (what the resampler converts), durations finite and positive, flags booleans. Unknown
 * keys are refused (a misspelt setting would otherwise be ignored).
 */
export function resolvePipelineParams(params: Partial<PipelineParams> = {}): Readonly<PipelineParams> {
  if (params === null || typeof params !== "object") {
    throw new InvalidOptionError(`PipelineTask: params must be an object (got ${String(params)})`);
  }
  checkKnownKeys("PipelineTask params", params, Object.keys(DEFAULT_PIPELINE_PARAMS));
  const defined = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
  const p: PipelineParams = { ...DEFAULT_PIPELINE_PARAMS, ...defined };
  checkSampleRate("PipelineTask params.audioInSampleRate", p.audioInSampleRate);
  checkSampleRate("PipelineTask params.audioOutSampleRate", p.audioOutSampleRate);
  checkBoolean("PipelineTask params.enableHeartbeats", p.enableHeartbeats);
  // At least 1 ms: a period so small that `now + ms === now` would fire at the same instant for ever.
  const atLeastOneMs = { min: 1 } as const;
  checkDurationMs("PipelineTask params.heartbeatsPeriodMs", p.heartbeatsPeriodMs, atLeastOneMs);
  checkDurationMs("PipelineTask params.heartbeatsMonitorMs", p.heartbeatsMonitorMs, atLeastOneMs);
  return Object.freeze(p);
}

/** A frame class, for `idleTimeoutFrames`. */
export type FrameClass = abstract new (...args: never[]) => Frame;

/** Options of a {@link PipelineTask}. Every duration is in ms. */
export interface PipelineTaskOptions {
  /** Name for logs. @default `PipelineTask#n` */
  name?: string;
  /** Pipeline-wide parameters. */
  params?: Partial<PipelineParams>;
  /** Observers that watch every frame pushed (see `Observer`). */
  observers?: readonly Observer[];
  /** Events a lossy observer (no `frameTypes`) may fall behind by before the oldest are dropped. @default 1024 */
  observerBufferSize?: number;
  /**
   * Events a lossless observer (one that declares `frameTypes`) may fall behind by; past it the
   * observer is detached with an error. @default 10000
   */
  observerMaxBacklog?: number;
  /** The task's clock, handed to every processor. @default a new `SystemClock` */
  clock?: Clock;
  /** Where to log. @default warn-level console logger */
  logger?: Logger;
  /**
   * The task is idle when none of `idleTimeoutFrames` has been pushed for this long; then the
   * `idleTimeout` event fires (and, with `cancelOnIdleTimeout`, the task is cancelled).
   * `null` turns idle detection off. @default 300000 (5 minutes)
   */
  idleTimeoutMs?: number | null;
  /** Frames that count as activity. @default [BotSpeakingFrame, UserSpeakingFrame] */
  idleTimeoutFrames?: readonly FrameClass[];
  /** Cancel the task when it is idle. @default true */
  cancelOnIdleTimeout?: boolean;
  /** Longest wait for `StartFrame` to reach the end of the pipeline before the task is cancelled. @default 20000 */
  startTimeoutMs?: number;
  /**
   * Longest time the end may make no progress before the task escalates to `cancel()`.
   * Progress is the `EndFrame` moving to the next processor, output audio moving, or a
   * processor reporting playback. @default 10000
   */
  endTimeoutMs?: number;
  /** Longest wait for `cancel()`, including cleanup; a processor still busy is named in the `timeout` event. @default 2000 */
  cancelTimeoutMs?: number;
  /** Longest wait for processors' cleanup after a graceful end. @default 2000 */
  cleanupTimeoutMs?: number;
}
