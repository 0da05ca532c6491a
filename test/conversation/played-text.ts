import type { ReceivedAudio } from "./loopback-client.js";

/**
 * The text whose audio the client received, decoded from the loopback Cartesia's audio (each
 * character is `msPerChar` of the constant sample `sampleFor(char)` = its code × 10; no ambience,
 * and the output runs at Cartesia's rate, so the samples arrive unchanged). Silence (0) separates
 * answers; a run of one value is as many characters as it is long (rounded up: a character whose
 * audio began counts). Only the audio received in `[fromMs, toMs)` (arrival times) is read.
 */
export function playedText(
  audio: readonly ReceivedAudio[],
  samplesPerChar: number,
  fromMs = 0,
  toMs = Number.POSITIVE_INFINITY,
): string {
  let text = "";
  let value = 0;
  let run = 0;
  const flush = (): void => {
    if (value !== 0 && run > 0)
      text += String.fromCharCode(value / 10).repeat(Math.ceil(run / samplesPerChar));
    run = 0;
  };
  for (const a of audio) {
    if (a.atMs < fromMs || a.atMs >= toMs) continue;
    for (const v of a.samples) {
      if (v !== value) {
        flush();
        value = v;
      }
      run++;
    }
  }
  flush();
  return text;
}

/** Index in `text` where each of its words starts. */
export function wordStarts(text: string): { word: string; at: number }[] {
  return [...text.matchAll(/\S+/gu)].map((m) => ({ word: m[0], at: m.index }));
}

/** When the last sample louder than 0 arrived in `[fromMs, toMs)`, or undefined. */
export function lastAudibleAt(
  audio: readonly ReceivedAudio[],
  fromMs: number,
  toMs = Number.POSITIVE_INFINITY,
): number | undefined {
  let last: number | undefined;
  for (const a of audio)
    if (a.atMs >= fromMs && a.atMs < toMs && a.samples.some((v) => v !== 0)) last = a.atMs;
  return last;
}

/** When the first sample louder than 0 arrived at or after `fromMs`, or undefined. */
export function firstAudibleAt(audio: readonly ReceivedAudio[], fromMs: number): number | undefined {
  return audio.find((a) => a.atMs >= fromMs && a.samples.some((v) => v !== 0))?.atMs;
}
