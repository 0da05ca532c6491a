import { performance } from "node:perf_hooks";
import type { Clock } from "../clock/clock.js";

/**
 * The Unix time, in ms, at which `clock` read 0: the `wallClockOriginMs` a serializer needs to
 * write pipeline timestamps (running time) as wall-clock text. Call it once per session, when the
 * clock is the task's clock; a {@link VirtualClock} gives an origin that moves with real time, so
 * tests pass a fixed origin instead.
 */
export function wallClockOrigin(clock: Clock): number {
  return performance.timeOrigin + performance.now() - clock.now();
}

/** Longest ISO-8601 text read: "2026-01-01T00:00:00.123456789+00:00" is 35 characters. */
const MAX_ISO_LENGTH = 40;

/** Date, `T`, hours and minutes, optional seconds and fraction, then `Z` or an offset. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/** `originMs + runningMs` as ISO-8601 UTC text with milliseconds, e.g. `2026-01-01T00:00:00.000Z`. */
export function isoFromRunningTime(runningMs: number, originMs: number): string {
  return new Date(Math.round(originMs + runningMs)).toISOString();
}

/**
 * Reads ISO-8601 text with a time zone (`Z` or `±hh:mm`) as running time on the clock whose
 * origin is `originMs`. `undefined` for anything else, including text without a zone, which
 * would otherwise be read in the server's local time.
 */
export function runningTimeFromIso(text: string, originMs: number): number | undefined {
  if (text.length > MAX_ISO_LENGTH || !ISO_8601.test(text)) return undefined;
  const unixMs = Date.parse(text);
  return Number.isNaN(unixMs) ? undefined : unixMs - originMs;
}
