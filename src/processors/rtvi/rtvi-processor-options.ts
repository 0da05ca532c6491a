import { InvalidOptionError } from "../../errors.js";
import type { RTVIClientRequest } from "../../frames/rtvi.js";
import type { FrameProcessorEvents, FrameProcessorOptions } from "../frame-processor.js";
import type { RTVIObserverOptions } from "./rtvi-observer.js";

/** Options of `RTVIProcessor`. */
export interface RTVIProcessorOptions extends FrameProcessorOptions {
  /**
   * Longest wait for the bot's answer to a `client-message`, in ms; then the client gets an
   * `error-response` saying nobody answered (the client itself waits 10 s by default).
   * @default 5000
   */
  clientMessageTimeoutMs?: number;
  /** Most `client-message` requests waiting for an answer at once; more are refused with an `error-response`. @default 64 */
  maxPendingClientMessages?: number;
  /**
   * Most messages held back while the client is not ready (before `client-ready`); past it the
   * oldest go, counted in `droppedHeldMessages`, with one warning. @default 256
   */
  maxHeldMessages?: number;
  /** Options of the RTVI processor's observer. */
  observer?: RTVIObserverOptions;
  /**
   * Wall-clock time in ms since the epoch, read once at start to turn running time into the
   * ISO-8601 timestamps of `user-transcription`. @default the system's wall clock
   */
  wallClockMs?: () => number;
}

/** What the client said about itself in `client-ready`. */
export interface RTVIClientInfo {
  /** Its RTVI protocol version, e.g. `"2.1.0"`. */
  readonly version: string;
  /** `data.about` as sent (library, version, platform…). */
  readonly about: unknown;
}

/** The UI-worker messages the client may send; accepted quietly and raised as `uiMessage`. */
export type RTVIUiMessageType = "ui-event" | "ui-snapshot" | "ui-cancel-job-group";

/** Events of `RTVIProcessor`. Handlers never block the pipeline. */
export interface RTVIProcessorEvents extends FrameProcessorEvents {
  /** The client sent `client-ready` and was answered `bot-ready` (once per session). */
  clientReady: (client: RTVIClientInfo) => void;
  /** The client sent a `client-message`: answer it with `request.respond()` or `request.fail()`. */
  clientMessage: (request: RTVIClientRequest) => void;
  /** The client sent a UI-worker message (`ui-event`, `ui-snapshot`, `ui-cancel-job-group`). */
  uiMessage: (type: RTVIUiMessageType, data: unknown) => void;
}

/** @internal */
export function positiveMs(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 1) {
    throw new InvalidOptionError(
      `RTVIProcessor: ${name} must be a finite number of ms, at least 1 (got ${String(value)})`,
    );
  }
  return value;
}

/** @internal */
export function wholeNumber(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidOptionError(`RTVIProcessor: ${name} must be a whole number ≥ 1 (got ${String(value)})`);
  }
  return value;
}
