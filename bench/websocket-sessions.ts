/**
 * Concurrent WebSocket sessions of the default bot (issue 7): the development server with the
 * echo bot that `npm start` runs (Silero VAD, 24 kHz output with the ambience mixer), and N
 * loopback clients in a SEPARATE process (`bench/support/websocket-clients.ts`) that each send
 * RTVI `client-ready` and stream 16 kHz audio in real time, speech and silence in a loop, so the
 * bot hears turns and echoes them.
 *
 * N grows step by step (clients added staggered over `ramp` s); after `warmup` s each step is
 * measured for `seconds` s:
 * - output write lateness, per chunk (40 ms in the echo bot), in this process: each session's `writeAudio` is
 *   timed (wrapped from outside) against that session's ideal schedule, chunk i of the window
 *   due at phase + i × chunk, the phase being the session's earliest write (unlike
 *   bench/output-transports.ts, which anchors at the first write: a late first write there makes
 *   the others look early);
 * - re-anchors of the sessions' pacers (`sender().reanchors`, over the window);
 * - event-loop delay p99 and max (beyond the monitor's 10 ms interval), GC pauses, Silero windows
 *   per model run (batch); server CPU (user + system, worker threads included, % of one core);
 *   RSS and RSS above the process's before any session, per session;
 * - from the generator: the bot audio each client received (samples/s; 24,000 is real time) and
 *   the generator's own CPU.
 * A step passes when every session is alive, p99 lateness < 20 ms and no pacer re-anchored. The
 * run stops at the first failing step unless `keepGoing=1`.
 *
 * `telephony=twilio` makes the clients phone calls (Twilio's media stream: 8 kHz μ-law in and out,
 * 20 ms messages) to the development server's `/telephony/twilio/ws`, answered by the same echo bot
 * (Silero VAD at 8 kHz, the ambience mixer, 20 ms output chunks); its output is counted in 8 kHz
 * samples. Calls need sessions on the main thread (workers=0).
 *
 * `workers=N` runs the sessions on N session workers (docs/design/dev-server.md, "Sessions on
 * worker threads"; the module is `bench/support/bench-session-worker.ts`) instead of the main
 * thread (`workers=0`, the default, as `npm start` runs). Each worker measures its own thread
 * (write lateness, re-anchors, event-loop delay, GC, Silero) and posts it at the end of each
 * window; lateness is pooled over all sessions, the rest is printed per worker (`_w<i>_`) and the
 * main thread's event-loop delay as `_main_`. CPU and RSS are the whole process's.
 *
 * `young=N` sets the workers' young generation (`workers.youngGenerationMb`, in MB; `young=v8` for
 * V8's own). With workers filling the cores, run it as `node --single-threaded-gc --import tsx
 * bench/websocket-sessions.ts …` (docs/design/dev-server.md, "Garbage collection on session workers").
 *
 *   npx tsx bench/websocket-sessions.ts [steps=25,50] [seconds=10] [warmup=5] [ramp=3] [keepGoing=0] [workers=0] [young=6]
 *   npx tsx bench/websocket-sessions.ts 25,35,50,75 30 keepGoing=1     (a BENCHMARKS.md run)
 *
 * `npm run bench` runs it with the short defaults (about 40 s).
 *
 * The Silero runtime is the bot's default: onnxruntime-node when installed, else onnxruntime-web
 * (docs/design/silero-vad.md); the first line says which.
 */
import { fork } from "node:child_process";
import { BroadcastChannel } from "node:worker_threads";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadEchoBotVoice, runEchoBot } from "../examples/03-voice-bot/echo-bot.js";
import { preferredOnnxRuntime } from "../src/audio/onnx/onnx-runtime-package.js";
import { silentLogger } from "../src/logger.js";
import { DEFAULT_CLIENT_DIR } from "../src/runner/client-page.js";
import { startDevServer } from "../src/runner/dev-server.js";
import type { WebSocketOutputTransport } from "../src/transports/websocket/websocket-output.js";
import type { ChildMessage, ParentMessage, WindowReport } from "./support/websocket-clients.js";
import { benchArgs } from "./support/args.js";
import { BENCH_CHANNEL, type BenchChannelMessage } from "./support/bench-session-worker.js";
import { type ThreadWindow, ThreadTimings, countingLogger } from "./support/session-timing.js";

const { positional, named } = benchArgs();
const STEPS = (positional[0] ?? named.steps ?? "25,50").split(",").map(Number);
const SECONDS = Number(positional[1] ?? named.seconds ?? 10);
const WARMUP_S = Number(named.warmup ?? 5);
const RAMP_S = Number(named.ramp ?? 3);
const KEEP_GOING = named.keepGoing === "1";
const WORKERS = Number(named.workers ?? 0);
const TELEPHONY = named.telephony;
/** `young=N`: the workers' young generation in MB (`workers.youngGenerationMb`); `young=v8`: V8's own. */
const YOUNG = named.young === undefined ? undefined : named.young === "v8" ? null : Number(named.young);
if (TELEPHONY !== undefined && (TELEPHONY !== "twilio" || WORKERS > 0))
  throw new Error(`telephony takes "twilio", with workers=0 (got ${TELEPHONY}, workers=${WORKERS})`);
if (!Number.isInteger(WORKERS) || WORKERS < 0)
  throw new Error(
    `workers must be a whole number ≥ 0 (0: sessions on the main thread; got ${named.workers})`,
  );
if (STEPS.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= STEPS[i - 1]!)))
  throw new Error(`steps must be increasing whole numbers ≥ 1, e.g. 25,50,100 (got ${STEPS.join(",")})`);
for (const [key, value] of [
  ["seconds", SECONDS],
  ["warmup", WARMUP_S],
  ["ramp", RAMP_S],
] as const)
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${key} must be a number of seconds ≥ 0 (got ${value})`);

const PASS_P99_MS = 20;
/** Sampling interval of the event-loop delay monitor, ms. */
const LOOP_RESOLUTION_MS = 10;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the server (as npm start)

const logger = countingLogger();
const timings = new ThreadTimings();
const rssAtStart = process.memoryUsage().rss;
const voice = WORKERS === 0 ? await loadEchoBotVoice() : undefined;
const runtime = preferredOnnxRuntime();
// The page is not used; a placeholder lets the bench run before `npm run build`.
let clientDir = DEFAULT_CLIENT_DIR;
if (!existsSync(join(clientDir, "index.html"))) {
  clientDir = mkdtempSync(join(tmpdir(), "voicepipe-bench-page-"));
  for (const file of ["index.html", "app.js", "THIRD_PARTY_LICENSES.txt"])
    writeFileSync(join(clientDir, file), "");
}
const server = await startDevServer({
  port: 0,
  maxSessions: 100_000,
  sessionTimeoutMs: null,
  clientDir,
  logger: silentLogger,
  ...(WORKERS > 0
    ? {
        workers: {
          count: WORKERS,
          module: new URL("./support/bench-session-worker.ts", import.meta.url),
          startTimeoutMs: 120_000,
          ...(YOUNG === undefined ? {} : { youngGenerationMb: YOUNG }),
        },
      }
    : {
        onSession: async (socket, _request, session) => {
          let timing: ReturnType<ThreadTimings["timeWrites"]> | undefined;
          try {
            await runEchoBot(socket, session, {
              voice: voice!,
              logger,
              onTask: (_task, transport) => {
                timing = timings.timeWrites(transport.output() as WebSocketOutputTransport);
              },
            });
          } finally {
            if (timing) timings.sessions.delete(timing);
            timings.ended++;
          }
        },
      }),
});
const rssBefore = process.memoryUsage().rss;
const channel = new BroadcastChannel(BENCH_CHANNEL);
const workerWindows: Extract<BenchChannelMessage, { type: "window" }>[] = [];
channel.onmessage = (event) => {
  const message = (event as { data: BenchChannelMessage }).data;
  if (message.type === "window") workerWindows.push(message);
};

// ---------------------------------------------------------------- the load generator

const generatorFile = fileURLToPath(new URL("./support/websocket-clients.ts", import.meta.url));
const generator = fork(generatorFile, [], {
  execArgv: ["--import", "tsx"],
  stdio: "inherit",
  env: { ...process.env, ...(TELEPHONY ? { WS_BENCH_TELEPHONY: TELEPHONY } : {}) },
});
const inbox: ChildMessage[] = [];
let wakeInbox: (() => void) | undefined;
generator.on("message", (m: ChildMessage) => {
  inbox.push(m);
  wakeInbox?.();
});
generator.on("exit", (code) => {
  if (code !== 0 && code !== null) console.error(`bench: the load generator exited with code ${code}`);
  wakeInbox?.();
});

async function reply<T extends ChildMessage["type"]>(
  type: T,
  timeoutMs: number,
): Promise<Extract<ChildMessage, { type: T }>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return inbox.splice(i, 1)[0] as Extract<ChildMessage, { type: T }>;
    if (generator.exitCode !== null) throw new Error(`the load generator exited before its "${type}"`);
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`the load generator sent no "${type}" within ${timeoutMs} ms`);
    await Promise.race([new Promise<void>((r) => (wakeInbox = r)), sleep(left)]);
  }
}
const tell = (message: ParentMessage) => generator.send(message);

// ---------------------------------------------------------------- the steps

const pct = (sorted: number[], p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const f = (n: number, digits = 2) => n.toFixed(digits);

interface StepResult {
  n: number;
  pass: boolean;
}

/** What the threads that run the sessions measured over the window: this one, or each worker. */
async function threadWindows(run: () => Promise<void>): Promise<ThreadWindow[]> {
  const logs = (): number => logger.warnings + logger.errors;
  if (WORKERS === 0) {
    timings.start(logs());
    await run();
    return [timings.stop(logs())];
  }
  workerWindows.length = 0;
  channel.postMessage({ type: "start" } satisfies BenchChannelMessage);
  await run();
  channel.postMessage({ type: "stop" } satisfies BenchChannelMessage);
  const deadline = performance.now() + 10_000;
  while (workerWindows.length < WORKERS && performance.now() < deadline) await sleep(20);
  if (workerWindows.length < WORKERS)
    console.log(`# only ${workerWindows.length} of ${WORKERS} workers sent their window`);
  return workerWindows.sort((a, b) => a.worker - b.worker).map((w) => w.window);
}

async function step(n: number): Promise<StepResult> {
  const startUrl = TELEPHONY
    ? new URL(`/telephony/${TELEPHONY}/ws`, server.url.replace(/^http/, "ws")).href
    : new URL("/start", server.url).href;
  tell({ type: "grow", startUrl, total: n, rampMs: RAMP_S * 1000 });
  const grown = await reply("grown", RAMP_S * 1000 + 90_000);
  if (grown.failed > 0)
    console.log(
      `# ${grown.failed} of ${n} clients got no bot-ready${grown.firstError ? ` (${grown.firstError})` : ""}`,
    );
  await sleep(WARMUP_S * 1000);

  // The window. The main thread's own event-loop delay (with workers it serves only HTTP).
  const mainLoop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  mainLoop.enable();
  let cpu = process.cpuUsage();
  let wallMs = 0;
  const windows = await threadWindows(async () => {
    tell({ type: "window-start" });
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    await sleep(SECONDS * 1000);
    cpu = process.cpuUsage(cpu0);
    wallMs = performance.now() - wall0;
    tell({ type: "window-end" });
  });
  mainLoop.disable();
  const { report } = await reply("window", 10_000);
  const rss = process.memoryUsage().rss;

  const sum = (key: keyof Omit<ThreadWindow, "lateness">): number =>
    windows.reduce((total, w) => total + w[key], 0);
  const lateness = windows.flatMap((w) => w.lateness).sort((a, b) => a - b);
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / wallMs) * 100;
  const alive = sum("alive");
  const reanchors = sum("reanchors");
  const p99 = pct(lateness, 99);
  const pass =
    alive === n && sum("ended") === 0 && report.closed === 0 && p99 < PASS_P99_MS && reanchors === 0;
  printStep(n, lateness, {
    p99,
    cpuPercent,
    rss,
    reanchors,
    alive,
    logs: sum("logs"),
    silero: { runs: sum("sileroRuns"), batches: sum("sileroBatches") },
    report,
    windows,
    mainLoop: {
      p99: mainLoop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS,
      max: mainLoop.max / 1e6 - LOOP_RESOLUTION_MS,
    },
  });
  console.log(`bench: ws_sessions_${n}_pass ${pass ? 1 : 0} bool`);
  return { n, pass };
}

function printStep(
  n: number,
  lateness: number[],
  m: {
    p99: number;
    cpuPercent: number;
    rss: number;
    reanchors: number;
    alive: number;
    logs: number;
    silero: { runs: number; batches: number };
    report: WindowReport;
    windows: ThreadWindow[];
    mainLoop: { p99: number; max: number };
  },
): void {
  const rates = m.report.receivedRates;
  const p = `ws_sessions_${n}`;
  const where = WORKERS === 0 ? "main thread" : `${WORKERS} workers`;
  console.log(
    `# ${n} sessions (${where}): ${m.alive} alive, ${f(SECONDS, 0)} s window, load ${loadAverage()}`,
  );
  console.log(`bench: ${p}_write_lateness_p50 ${f(pct(lateness, 50))} ms`);
  console.log(`bench: ${p}_write_lateness_p99 ${f(m.p99)} ms`);
  console.log(`bench: ${p}_write_lateness_max ${f(lateness.at(-1) ?? NaN)} ms`);
  console.log(`bench: ${p}_writes ${lateness.length} chunks`);
  console.log(`bench: ${p}_reanchors ${m.reanchors} times`);
  // Per thread that runs sessions: the main thread (no workers) or each worker.
  m.windows.forEach((w, i) => {
    const t = WORKERS === 0 ? p : `${p}_w${i}`;
    const sorted = [...w.lateness].sort((a, b) => a - b);
    if (WORKERS > 0) {
      console.log(`bench: ${t}_sessions ${w.alive} sessions`);
      console.log(`bench: ${t}_write_lateness_p99 ${f(pct(sorted, 99))} ms`);
      console.log(`bench: ${t}_reanchors ${w.reanchors} times`);
    }
    console.log(`bench: ${t}_event_loop_delay_p99 ${f(w.loopP99)} ms`);
    console.log(`bench: ${t}_event_loop_delay_max ${f(w.loopMax)} ms`);
    console.log(`bench: ${t}_gc_pause_max ${f(w.gcMaxMs)} ms`);
    console.log(`bench: ${t}_gc_time ${f((w.gcTotalMs / (SECONDS * 1000)) * 100)} %`);
  });
  if (WORKERS > 0) {
    console.log(`bench: ${p}_main_event_loop_delay_p99 ${f(m.mainLoop.p99)} ms`);
    console.log(`bench: ${p}_main_event_loop_delay_max ${f(m.mainLoop.max)} ms`);
  }
  console.log(`bench: ${p}_server_cpu ${f(m.cpuPercent, 1)} %core`);
  console.log(`bench: ${p}_server_cpu_per_session ${f(m.cpuPercent / n)} %core`);
  console.log(`bench: ${p}_silero_windows ${f(m.silero.runs / SECONDS, 0)} windows/s`);
  console.log(
    `bench: ${p}_silero_windows_per_batch ${f(m.silero.runs / Math.max(1, m.silero.batches), 1)} windows`,
  );
  console.log(`bench: ${p}_rss ${f(m.rss / 1_048_576, 0)} MiB`);
  console.log(`bench: ${p}_rss_per_session ${f((m.rss - rssBefore) / n / 1_048_576)} MiB`);
  console.log(`bench: ${p}_client_received_rate_min ${f(rates[0] ?? NaN, 0)} samples/s`);
  console.log(`bench: ${p}_client_received_rate_p50 ${f(pct(rates, 50), 0)} samples/s`);
  console.log(`bench: ${p}_client_received_rate_max ${f(rates.at(-1) ?? NaN, 0)} samples/s`);
  console.log(`bench: ${p}_client_other_format_frames ${m.report.otherFormatFrames} frames`);
  console.log(`bench: ${p}_server_log_lines ${m.logs} lines`);
  console.log(`bench: ${p}_clients_closed ${m.report.closed} clients`);
  console.log(`bench: ${p}_user_turns ${m.report.userStartedSpeaking} turns`);
  console.log(`bench: ${p}_bot_replies ${m.report.botStartedSpeaking} replies`);
  console.log(`bench: ${p}_generator_cpu ${f(m.report.cpuPercent, 1)} %core`);
}

function loadAverage(): string {
  // What `uptime` prints: the 1, 5 and 15 minute load averages.
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

console.log(
  `# echo bot, Silero on ${runtime}, sessions on ${WORKERS === 0 ? "the main thread" : `${WORKERS} worker threads`}; steps ${STEPS.join(",")}, ${SECONDS} s each after ${WARMUP_S} s warm-up, ramp ${RAMP_S} s; load ${loadAverage()}`,
);
console.log(`bench: ws_rss_before_sessions ${f(rssBefore / 1_048_576, 0)} MiB`);
if (WORKERS > 0)
  console.log(
    `bench: ws_rss_per_worker ${f((rssBefore - rssAtStart) / WORKERS / 1_048_576, 1)} MiB (each with its prompts and its own Silero runtime, before any session)`,
  );
let largest = 0;
try {
  await reply("ready", 30_000);
  for (const n of STEPS) {
    const result = await step(n);
    if (result.pass) largest = result.n;
    else if (!KEEP_GOING) break;
  }
} finally {
  // The clients leave first (their sessions end on the disconnect path), then the server closes.
  tell({ type: "stop" });
  const leaveDeadline = performance.now() + 10_000;
  while (server.sessions > 0 && performance.now() < leaveDeadline) await sleep(50);
  const stillOpen = server.sessions;
  const report = await server.close({ graceMs: 2_000, cancelTimeoutMs: 2_000 });
  console.log(
    `# after the clients left: ${stillOpen} session(s) still open; server close: ${report.ended} ended, ${report.cancelled} cancelled, ${report.abandoned} abandoned`,
  );
  if (generator.exitCode === null) generator.kill();
}
console.log(`bench: ws_sessions_largest_passing ${largest} sessions`);
if (logger.warnings + logger.errors > 0)
  console.log(
    `# server log: ${logger.warnings} warning(s), ${logger.errors} error(s); first: ${logger.first.join(" | ")}`,
  );
channel.close();
// The shared Silero worker keeps the process alive.
process.exit(process.exitCode ?? 0);
