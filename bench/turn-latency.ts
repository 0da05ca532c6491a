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
 * By default the services and the client run in this process, on the bot's event loop, as the
 * conversation tests run them: every loopback hop is a turn of that loop. `apart=1` runs them in a
 * second process (`support/turn-latency-world.ts`), as in a deployment, where the providers and the
 * user are other machines and this process runs the bot alone: every hop then wakes another
 * process (on this 2-vCPU VM that costs more than a turn of a busy loop; see BENCHMARKS.md).
 *
 * `preemptive=0` turns the assistant's preemptive generation off (on by default, as `npm start`
 * runs it): the LLM's answer then starts only once the turn is confirmed.
 *
 *   npx tsx bench/turn-latency.ts [turns=30] [warmup=2] [apart=0] [preemptive=1]
 */
import { fork } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { type AssistantParts, runAssistantBot } from "../examples/03-voice-bot/assistant-bot.js";
import type { TurnLatency } from "../src/observers/turn-latency.js";
import { silentLogger } from "../src/logger.js";
import { DEFAULT_CLIENT_DIR } from "../src/runner/client-page.js";
import { startDevServer } from "../src/runner/dev-server.js";
import { answer } from "../test/services/llm/loopback-openai.js";
import { startAssistant } from "../test/conversation/assistant-harness.js";
import { benchArgs } from "./support/args.js";
import { benchPhrases, converse } from "./support/converse.js";
import type { FromWorld, ToWorld } from "./support/turn-latency-world.js";

const { named } = benchArgs();
const turns = Number(named["turns"] ?? 30);
const warmup = Number(named["warmup"] ?? 2);
const apart = named["apart"] === "1";
const preemptive = named["preemptive"] !== "0";

const records: TurnLatency[] = [];
/** The (last) session's parts: its counters are printed at the end. */
let sessionParts: AssistantParts | undefined;
const clientMs = apart ? await runApart() : await runTogether();

/** The bot here; the services and the client in a second process. */
async function runApart(): Promise<number[]> {
  const worldFile = fileURLToPath(new URL("./support/turn-latency-world.ts", import.meta.url));
  const world = fork(worldFile, [], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  const inbox: FromWorld[] = [];
  let wake: (() => void) | undefined;
  world.on("message", (m: FromWorld) => {
    inbox.push(m);
    wake?.();
  });
  world.on("exit", () => wake?.());
  const next = async (): Promise<FromWorld> => {
    while (inbox.length === 0) {
      if (world.exitCode !== null) throw new Error(`the services' process exited (${world.exitCode})`);
      await new Promise<void>((r) => (wake = r));
    }
    return inbox.shift()!;
  };
  const services = await next();
  if (services.type !== "services") throw new Error(`expected the services' addresses, got ${services.type}`);
  const server = await startDevServer({
    port: 0,
    clientDir: DEFAULT_CLIENT_DIR,
    logger: silentLogger,
    onSession: (socket, _request, session) =>
      runAssistantBot(socket, session, {
        choice: { stt: "deepgram", llm: "openai", tts: "cartesia" },
        logger: silentLogger,
        ambienceVolume: 0,
        greeting: "Hi.",
        preemptiveGeneration: preemptive,
        env: services.env,
        onTask: (_task, parts) => {
          sessionParts = parts;
          parts.latency.on("turnLatency", (r) => records.push(r));
        },
      }).then(() => {}),
  });
  try {
    world.send({ type: "run", serverUrl: server.url, turns, warmup } satisfies ToWorld);
    const result = await next();
    if (result.type === "failed") throw new Error(`the client failed: ${result.message}`);
    if (result.type !== "done") throw new Error(`expected the client's result, got ${result.type}`);
    return result.clientMs;
  } finally {
    await server.close({ graceMs: 500, cancelTimeoutMs: 1000 });
    world.kill();
  }
}

/** The bot, the services and the client in this one process (as the conversation tests run). */
async function runTogether(): Promise<number[]> {
  const phrases = await benchPhrases();
  const harness = await startAssistant({
    greeting: "Hi.",
    deepgram: { utterances: Array.from({ length: turns + warmup }, (_, i) => phrases[i % 2]!.text) },
    cartesia: { msPerChar: 5 },
    llm: (sse) => answer(sse, ["Sure", "."]),
    bot: { preemptiveGeneration: preemptive },
  });
  try {
    const client = await harness.connect();
    sessionParts = harness.session().parts;
    sessionParts.latency.on("turnLatency", (r) => records.push(r));
    return await converse(client, phrases, turns, warmup);
  } finally {
    await harness.close();
  }
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
    `${apart ? "services and client in a second process" : "services and client in this process"}; ` +
    `preemptive generation ${preemptive ? "on" : "off"}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
);
if (sessionParts) {
  const { llm, tts } = sessionParts;
  console.log(
    `# preemptive answers used / discarded: ${llm.preemptiveAnswersUsed} / ${llm.preemptiveAnswersDiscarded}; ` +
      `preemptive speech used / discarded: ${tts.preemptiveSpeechUsed} / ${tts.preemptiveSpeechDiscarded}`,
  );
}
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
