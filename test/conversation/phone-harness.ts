/**
 * The echo bot (`npm start`'s default) answering simulated phone calls on loopback: the
 * development server, whose telephony routes hand each socket on `/telephony/<provider>/ws` to
 * `runEchoBot` with a session whose `telephony` names the provider, and the audio the tests speak
 * and look for.
 */
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { BotLine } from "../../examples/03-voice-bot/bot-line.js";
import { type EchoBotVoice, loadEchoBotVoice, runEchoBot } from "../../examples/03-voice-bot/echo-bot.js";
import { rms } from "../../src/audio/pcm.js";
import { resampleOnce } from "../../src/audio/resampler.js";
import { readWavFile } from "../../src/audio/wav.js";
import type { Logger } from "../../src/logger.js";
import type { PipelineTask, TaskOutcome } from "../../src/pipeline/task.js";
import { startDevServer } from "../../src/runner/dev-server.js";
import { type TelephonyProvider, createTelephonySerializer } from "../../src/telephony/index.js";
import type { WebSocketTransport } from "../../src/transports/websocket/websocket-transport.js";
import { memoryLogger, type LoggedLine } from "../support/logger.js";

/** Whether voicepipe has a serializer for `provider` yet (the end-to-end tests of the others are skipped). */
export function hasSerializer(provider: TelephonyProvider): boolean {
  try {
    createTelephonySerializer(provider).dispose();
    return true;
  } catch {
    return false;
  }
}

/** One call the bot answered. */
export interface AnsweredSession {
  readonly id: number;
  readonly provider: TelephonyProvider;
  task?: PipelineTask;
  transport?: WebSocketTransport;
  line?: BotLine;
  /** Resolves when the session handler has settled (with its outcome, or the error it threw). */
  readonly settled: Promise<{ atMs: number; outcome?: TaskOutcome; error?: unknown }>;
  /** Aborts the session as the development server does at shutdown (cancel). */
  cancel(): void;
}

/** The echo bot behind a loopback `ws` server. */
export interface PhoneBot {
  /** `ws://127.0.0.1:<port>/telephony/<provider>/ws`. */
  url(provider: TelephonyProvider): string;
  readonly sessions: AnsweredSession[];
  readonly log: LoggedLine[];
  /** Sockets the server still holds. */
  readonly openSockets: number;
  close(): Promise<void>;
}

/**
 * Starts the echo bot behind the development server on loopback (its telephony routes). `voice`: a shorter greeting keeps the tests short.
 */
export async function startPhoneBot(
  voice: EchoBotVoice,
  options: { logger?: Logger } = {},
): Promise<PhoneBot> {
  const memory = memoryLogger();
  const logger = options.logger ?? memory.logger;
  const sessions: AnsweredSession[] = [];
  // The development server itself: its telephony routes hand each call's socket to onSession
  // with `session.telephony` set, as `npm start` runs it.
  const server = await startDevServer({
    port: 0,
    maxSessions: 100,
    sessionTimeoutMs: null,
    logger,
    onSession: (socket, _request, session) => {
      const provider = session.telephony;
      if (!provider) return void socket.close(1008, "not a call");
      const answered: AnsweredSession = {
        id: session.id,
        provider,
        settled: runEchoBot(socket, session, {
          voice,
          logger,
          onTask: (task, transport, line) => Object.assign(answered, { task, transport, line }),
        }).then(
          (outcome) => ({ atMs: performance.now(), outcome }),
          (error: unknown) => {
            socket.terminate();
            return { atMs: performance.now(), error };
          },
        ),
        cancel: () => socket.close(1001),
      };
      sessions.push(answered);
      return answered.settled.then(() => undefined);
    },
  });
  const port = server.port;
  return {
    url: (provider) => `ws://127.0.0.1:${port}/telephony/${provider}/ws`,
    sessions,
    log: memory.lines,
    get openSockets() {
      return server.sessions;
    },
    async close() {
      for (const s of sessions) s.cancel();
      await Promise.all(sessions.map((s) => s.settled));
      await server.close({ graceMs: 1000, cancelTimeoutMs: 2000 });
    },
  };
}

/** The echo bot's voice with the greeting cut to `greetingMs` (the whole one is 5.7 s). */
export async function shortVoice(greetingMs: number): Promise<EchoBotVoice> {
  const voice = await loadEchoBotVoice();
  const { audio, sampleRate } = voice.greeting;
  return { ...voice, greeting: { audio: audio.slice(0, (sampleRate * greetingMs) / 1000), sampleRate } };
}

/** A spoken sentence from a test fixture, with the silence around it. */
export interface Utterance {
  readonly text: string;
  /** Mono PCM16 at {@link sampleRate}: `padMs` of the fixture's silence, the speech, `padMs` again. */
  readonly samples: Int16Array;
  readonly sampleRate: number;
  readonly padMs: number;
  /** Length of the speech alone, in ms. */
  readonly speechMs: number;
}

/**
 * The `index`-th sentence of `fixture` (16 kHz, `test/fixtures/<fixture>.wav` and `.json`),
 * resampled to `sampleRate` (a phone line's 8 kHz).
 */
export async function utterance(
  fixture: "vad-espeak" | "vad-flite",
  index: number,
  sampleRate: number,
  padMs = 100,
): Promise<Utterance> {
  const base = fileURLToPath(new URL(`../fixtures/${fixture}`, import.meta.url));
  const info = JSON.parse(await readFile(`${base}.json`, "utf8")) as {
    speech: { startMs: number; endMs: number; text: string }[];
  };
  const span = info.speech[index]!;
  const wav = await readWavFile(`${base}.wav`);
  const at = (ms: number): number => Math.max(0, Math.round((ms / 1000) * wav.sampleRate));
  const cut = wav.audio.slice(at(span.startMs - padMs), at(span.endMs + padMs));
  return {
    text: span.text,
    samples: await resampleOnce(cut, wav.sampleRate, sampleRate),
    sampleRate,
    padMs,
    speechMs: span.endMs - span.startMs,
  };
}

/** RMS of each `frameMs` of `samples`: the loudness over time, which survives codecs and resampling. */
export function envelope(samples: Int16Array, sampleRate: number, frameMs = 20): number[] {
  const size = Math.round((sampleRate * frameMs) / 1000);
  const out: number[] = [];
  for (let i = 0; i + size <= samples.length; i += size) out.push(rms(samples.subarray(i, i + size)));
  return out;
}

/**
 * Where `clip`'s envelope best matches inside `within`'s (Pearson correlation at each offset, in
 * frames), and how well. A clip played back through a phone line, with background sound mixed
 * in, matches at 0.9 or more; a different sound, or the right one at the wrong rate, does not.
 */
export function findClip(within: number[], clip: number[]): { offset: number; correlation: number } {
  let best = { offset: -1, correlation: -1 };
  const n = clip.length;
  const meanClip = clip.reduce((a, b) => a + b, 0) / n;
  const devClip = clip.map((v) => v - meanClip);
  const normClip = Math.sqrt(devClip.reduce((a, b) => a + b * b, 0));
  for (let offset = 0; offset + n <= within.length; offset++) {
    const part = within.slice(offset, offset + n);
    const mean = part.reduce((a, b) => a + b, 0) / n;
    let dot = 0;
    let norm = 0;
    for (let i = 0; i < n; i++) {
      const d = part[i]! - mean;
      dot += d * devClip[i]!;
      norm += d * d;
    }
    const correlation = norm === 0 || normClip === 0 ? 0 : dot / Math.sqrt(norm * normClip * normClip);
    if (correlation > best.correlation) best = { offset, correlation };
  }
  return best;
}

/** Joins audio messages into one stream of samples. */
export function joined(parts: readonly { samples: Int16Array }[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.samples.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p.samples, at);
    at += p.samples.length;
  }
  return out;
}

/** The `q`-quantile (0–1) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Waits `ms` of real time. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
