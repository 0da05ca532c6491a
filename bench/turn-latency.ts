/**
 * Turn latency of the assistant `npm start` runs (issue 8, "Benchmark"): from the user's end of
 * speech to the first bot audio written to the client, with loopback services that answer
 * instantly, split into the turn-detection wait (the VAD's stop delay, the speech timeout) and
 * everything else (STT final, LLM, TTS, output). Default settings of the assistant
 * (Deepgram → OpenAI → Cartesia; Silero `stopMs` 200, Deepgram's end of turn or a 300 ms speech
 * timeout).
 *
 * The whole thing is real: the development server, `runAssistantBot`, the WebSocket transport, a
 * loopback client streaming recorded speech in real time (16 kHz protobuf frames, as the web
 * client does), and loopback Deepgram / OpenAI / Cartesia servers on 127.0.0.1 that answer at
 * once (Deepgram's final at its endpointing, one short sentence from the LLM, Cartesia's audio
 * at once). Times come from `TurnLatencyObserver` (task clock) for each answered turn; the
 * client's own view (last loud sample sent → first bot audio received) is printed beside them.
 *
 *   npx tsx bench/turn-latency.ts [turns=30] [warmup=2]
 */
import { loadavg } from "node:os";
import type { TurnLatency } from "../src/observers/turn-latency.js";
import { answer } from "../test/services/llm/loopback-openai.js";
import { startAssistant, utterance } from "../test/conversation/assistant-harness.js";
import { benchArgs } from "./support/args.js";

const { named } = benchArgs();
const turns = Number(named["turns"] ?? 30);
const warmup = Number(named["warmup"] ?? 2);

const phrases = [await utterance("vad-espeak", 1, 50), await utterance("vad-flite", 1, 50)];
const harness = await startAssistant({
  greeting: "Hi.",
  deepgram: { utterances: Array.from({ length: turns + warmup }, (_, i) => phrases[i % 2]!.text) },
  cartesia: { msPerChar: 5 },
  llm: (sse) => answer(sse, ["Sure", "."]),
});
const records: TurnLatency[] = [];
const clientMs: number[] = [];
try {
  const client = await harness.connect();
  harness.session().parts.latency.on("turnLatency", (r) => records.push(r));
  let last = await client.waitFor("bot-stopped-speaking", 0, 20_000);
  for (let i = 0; i < turns + warmup; i++) {
    const phrase = phrases[i % 2]!;
    // The last loud sample left the client 50 ms (the clip's padding) before its last sample.
    const spokeUntil = (await client.speak(phrase.samples)) - 50;
    const started = await client.waitFor("bot-started-speaking", last.atMs, 10_000);
    const firstAudio = client.audio.find((a) => a.atMs >= spokeUntil - 5 && a.samples.some((v) => v !== 0));
    if (i >= warmup && firstAudio) clientMs.push(firstAudio.atMs - spokeUntil);
    last = await client.waitFor("bot-stopped-speaking", started.atMs, 10_000);
    await new Promise((r) => setTimeout(r, 300));
  }
} finally {
  await harness.close();
}

const answered = records.filter((r) => r.outcome === "answered").slice(warmup);
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const line = (name: string, xs: number[]): void => {
  if (xs.length === 0) return;
  console.log(`bench: turn-latency-${name}-p50 ${pct(xs, 50).toFixed(1)} ms`);
  console.log(`bench: turn-latency-${name}-p99 ${pct(xs, 99).toFixed(1)} ms`);
};
console.log(
  `# ${answered.length} answered turns measured (${warmup} warm-up left out; ${records.length} turns seen); ` +
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
);
line("total", answered.map((r) => r.totalMs!).filter(Number.isFinite));
line("turn-detection", answered.map((r) => r.turnDetectionMs!).filter(Number.isFinite));
line("response", answered.map((r) => r.responseMs!).filter(Number.isFinite));
const stage = (from: keyof TurnLatency, to: keyof TurnLatency): number[] =>
  answered
    .map((r) =>
      (r[to] as number | undefined) !== undefined && (r[from] as number | undefined) !== undefined
        ? (r[to] as number) - (r[from] as number)
        : Number.NaN,
    )
    .filter(Number.isFinite);
line("turn-end-to-llm-text", stage("userTurnEndMs", "llmFirstTextMs"));
line("llm-text-to-tts-audio", stage("llmFirstTextMs", "ttsFirstAudioMs"));
line("tts-audio-to-written", stage("ttsFirstAudioMs", "botStartedMs"));
line("client-end-of-speech-to-audio", clientMs);
