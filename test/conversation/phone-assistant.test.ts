/**
 * The assistant (`npm start` with provider keys) answering a phone call from each provider:
 * `runAssistantBot` with Deepgram → OpenAI → Cartesia pointed at loopback servers, behind the
 * development server, and a simulated provider stream (test/support/fake-callers.ts) dialling the
 * server's `/telephony/<provider>/ws` (and Exotel's with `?sample-rate=16000`). The pipeline runs
 * at the stream's rate (8 kHz; Vonage and that Exotel call 16 kHz): Deepgram is asked for that
 * rate and Cartesia speaks at it. One server and one set of loopback providers take the calls in
 * turn. Real time (about 6 s a call).
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SileroVADAnalyzer } from "../../src/audio/vad/silero.js";
import type { LLMAssistantMessage } from "../../src/context/messages.js";
import { resampleOnce } from "../../src/audio/resampler.js";
import type { TelephonyProvider } from "../../src/telephony/index.js";
import { answer } from "../services/llm/loopback-openai.js";
import { sampleFor } from "../services/cartesia/fake-cartesia.js";
import { CALLER_WIRES, FakeCaller, type HeardAudio } from "../support/fake-callers.js";
import { memoryLogger } from "../support/logger.js";
import { type CallerFormat, type CallerWire, decodeAudio, encodeAudio } from "../support/callers/index.js";
import {
  type AssistantHarness,
  type AssistantSession,
  type Utterance,
  startAssistant,
  utterance,
} from "./assistant-harness.js";

const LONG_ANSWER =
  "Mars is a cold desert world with a thin atmosphere. Its average temperature is about minus sixty degrees. " +
  "Dust storms can cover the whole planet for months. The winds are fast, but the air is too thin to knock you over.";
/** ms of audio the loopback Cartesia makes per character. */
const MS_PER_CHAR = 20;
/** What the caller says in each call, in order (the loopback Deepgram's script runs across the calls). */
const SAID = ["Tell me about Mars.", "Thank you."];

let harness: AssistantHarness;
const log = memoryLogger();
let question: Utterance;
let bargeIn: Utterance;
const calls: FakeCaller[] = [];

beforeAll(async () => {
  // The shared Silero model, loaded before the first call as `npm start` does (else the first
  // call's pipeline waits for it, 3–10 s on a loaded machine, before the greeting).
  await new SileroVADAnalyzer().ready();
  question = await utterance("vad-espeak", 0);
  bargeIn = await utterance("vad-espeak", 1);
  harness = await startAssistant({
    logger: log.logger,
    greeting: "Hi there.",
    deepgram: { utterances: CALLS.flatMap(() => SAID) },
    cartesia: { msPerChar: MS_PER_CHAR },
    // Each call asks twice: the long answer first (barged into), then the short one.
    llm: (sse, n) => answer(sse, (n % 2 === 1 ? LONG_ANSWER : "You are welcome.").split(/(?= )/u)),
  });
}, 60_000);

afterAll(async () => {
  for (const call of calls.splice(0)) call.dispose();
  await harness?.close();
});

/** Whether a message holds the bot's voice: the loopback Cartesia never sends a zero sample, and the ambience is off. */
const voiced = (a: HeardAudio): boolean => a.samples.some((v) => v !== 0);

/** Waits until no voiced audio has come for `ms`. */
async function quietFor(caller: FakeCaller, ms: number, what: string): Promise<void> {
  await caller.waitUntil(
    () => performance.now() - (caller.audio.filter(voiced).at(-1)?.atMs ?? Infinity) > ms,
    what,
    5000,
  );
}

/** Runs of equal samples (value, length) in the voiced audio of `parts`, silence (0) left out: the shape of what was played. */
function runs(parts: readonly { samples: Int16Array }[]): [number, number][] {
  const out: [number, number][] = [];
  for (const { samples } of parts)
    for (const v of samples) {
      const last = out.at(-1);
      if (v === 0) continue;
      if (last?.[0] === v) last[1]++;
      else out.push([v, 1]);
    }
  return out;
}

/**
 * What the caller hears when the bot says `text`, as {@link runs}: the loopback Cartesia makes
 * each character {@link MS_PER_CHAR} of one sample value at the stream's rate (no resampling), and
 * the provider's codec quantises it (μ-law), so the played audio must match this sample for sample:
 * a wrong encoding, byte order, rate or a lost packet does not.
 */
function expectedRuns(text: string, format: CallerFormat): [number, number][] {
  const perChar = (format.sampleRate * MS_PER_CHAR) / 1000;
  const samples = new Int16Array(text.length * perChar);
  for (let i = 0; i < text.length; i++) samples.fill(sampleFor(text[i]!), i * perChar, (i + 1) * perChar);
  return runs([{ samples: decodeAudio(encodeAudio(samples, format.encoding), format.encoding) }]);
}

/** One call of the table: the provider, the stream URL's query, and what the provider plays, spelled out (so a change in the fake callers cannot loosen it). */
interface CallRow {
  readonly name: string;
  readonly provider: TelephonyProvider;
  /** The stream URL's query (Exotel's `?sample-rate=`). */
  readonly query: string;
  /** What the provider plays; the start declares it too when `query` chose it. */
  readonly outbound: CallerFormat;
  readonly packets: CallerWire["packets"];
  /** Audio in binary messages (Vonage) or base64 in JSON text. */
  readonly binary: boolean;
}

const MULAW_8K: CallerFormat = { encoding: "mulaw", sampleRate: 8000 };
const EXOTEL_PACKETS: CallerWire["packets"] = { multipleOf: 320, minBytes: 3200, maxBytes: 100_000 };
const CALLS: readonly CallRow[] = [
  ...(["twilio", "telnyx", "plivo"] as const).map((provider) => ({
    name: provider,
    provider,
    query: "",
    outbound: MULAW_8K,
    packets: { exactBytes: 160 },
    binary: false,
  })),
  {
    name: "exotel",
    provider: "exotel",
    query: "",
    outbound: { encoding: "l16", sampleRate: 8000 },
    packets: EXOTEL_PACKETS,
    binary: false,
  },
  // The applet's URL chooses the rate: the bot must hear and speak 16 kHz (8 kHz audio played
  // at 16 kHz is twice as fast).
  {
    name: "exotel, ?sample-rate=16000",
    provider: "exotel",
    query: "?sample-rate=16000",
    outbound: { encoding: "l16", sampleRate: 16_000 },
    packets: EXOTEL_PACKETS,
    binary: false,
  },
  {
    name: "vonage",
    provider: "vonage",
    query: "",
    outbound: { encoding: "l16", sampleRate: 16_000 },
    packets: { exactBytes: 640 },
    binary: true,
  },
];

describe.each(CALLS)("the assistant answering a phone call ($name)", (row) => {
  const { provider } = row;
  const wire = CALLER_WIRES[provider];

  it("greets in the provider's packets, answers the caller's question through Deepgram, the LLM and Cartesia, clears on a barge-in, and ends on hang-up", async () => {
    expect(wire.packets).toEqual(row.packets);
    const asks = harness.openai.requests.length;
    const logged = log.lines.length;
    const sessionsBefore = harness.sessions.length;
    const caller = await FakeCaller.dial(
      harness.callUrl(provider) + row.query,
      provider,
      row.query ? { declare: row.outbound, outbound: row.outbound } : {},
    );
    expect(caller.outbound).toEqual(row.outbound);
    calls.push(caller);
    const rate = caller.sendFormat.sampleRate;

    // The greeting: no RTVI client to wait for; it plays as soon as the pipeline runs.
    const greetedAt = await caller.waitUntil(() => caller.audio.find(voiced)?.atMs, "the greeting", 30_000);
    expect(caller.badPacketSizes()).toEqual([]);
    expect(new Set(caller.messages.filter((m) => m.kind === "audio").map((m) => m.binary))).toEqual(
      new Set([row.binary]),
    );
    const session: AssistantSession = harness.sessions[sessionsBefore]!;
    expect(harness.sessions).toHaveLength(sessionsBefore + 1);
    const parts = await caller.waitUntil(() => session.parts, "the assistant's pipeline", 2000);
    expect(parts.call?.provider).toBe(provider);
    expect(parts.call?.callId).toBe(caller.ids.callId);

    // The greeting (180 ms) plays to its end before the caller speaks: all of it, as the provider decodes it.
    await quietFor(caller, 300, "the end of the greeting");
    expect(runs(caller.heard(0))).toEqual(expectedRuns("Hi there.", caller.outbound));

    // The question: Deepgram hears audio at the stream's rate, the LLM is asked, Cartesia's answer comes back.
    const asked = await caller.speak(await resampleOnce(question.samples, 16_000, rate));
    await caller.waitUntil(() => harness.openai.requests.length === asks + 1, "the LLM request", 5000);
    const answerAt = await caller.waitUntil(
      () => caller.heard(asked.endMs).find(voiced)?.atMs,
      "the answer's audio",
      5000,
    );

    // Barge in 1 s into the answer (4 s long): the provider's clear comes within 500 ms of the speech onset.
    await new Promise((r) => setTimeout(r, 1000));
    expect(greetedAt).toBeLessThan(answerAt);
    const barged = await caller.speak(await resampleOnce(bargeIn.samples, 16_000, rate));
    const speechOnset = barged.startMs + 100; // the utterance starts with 100 ms of the fixture's silence
    const clearAt = caller.clears.find((t) => t > barged.startMs);
    expect(clearAt, "a clear after the barge-in").toBeDefined();
    console.log(
      `measured (assistant, ${provider}): clear ${(clearAt! - speechOnset).toFixed(0)} ms after the barge-in's onset; ` +
        `${caller.audio[0]!.bytes}-byte audio messages`,
    );
    expect(clearAt! - speechOnset).toBeLessThan(500);
    await caller.waitUntil(() => harness.openai.requests.length === asks + 2, "the second LLM request", 5000);
    await caller.waitUntil(() => caller.heard(clearAt!).find(voiced), "the second answer", 5000);

    // After the clear: nothing more of the first answer, then the second answer whole, as the
    // provider decodes it (no bound on when: a stalled test process cannot fail this).
    await quietFor(caller, 300, "the end of the second answer");
    expect(runs(caller.heard(clearAt!))).toEqual(expectedRuns("You are welcome.", caller.outbound));

    // The context: the greeting, the answer cut where the caller barged in, the next answer.
    await caller.waitUntil(
      () => parts.context.messages.filter((m) => m.role === "assistant").length === 3,
      "three assistant messages",
      5000,
    );
    const assistant = parts.context.messages.filter((m): m is LLMAssistantMessage => m.role === "assistant");
    expect(assistant[0]).toMatchObject({ content: "Hi there." });
    expect(assistant[1]!.interrupted).toBe(true);
    expect(LONG_ANSWER.startsWith(String(assistant[1]!.content))).toBe(true);
    expect(parts.context.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual(SAID);

    // The caller hangs up. With a `stop` message (Twilio, Telnyx, Exotel) the server ends the call
    // and closes the socket; Plivo and Vonage hang up by closing it themselves.
    const hungUpAt = performance.now();
    const end = await caller.hangUp();
    expect(end.by).toBe(wire.hasStop ? "server" : "caller");
    expect(end.atMs - hungUpAt).toBeLessThan(2000);
    const outcome = await session.outcome;
    expect(outcome.how).toBe("ended");
    expect(performance.now() - hungUpAt).toBeLessThan(2000);
    expect(parts.transport.refusedMessageCount).toBe(0);
    expect(caller.badPacketSizes()).toEqual([]);
    expect(caller.violations).toEqual([]);
    // Nothing went wrong on the way (a start declaring a format other than the expected one is a warning).
    const complaints = log.lines.slice(logged).filter((l) => l.level === "warn" || l.level === "error");
    expect(complaints.map((l) => l.message)).toEqual([]);
  });
});
