/**
 * The voice bot you talk to in the browser: `npm start` runs this file. It starts the
 * development server on 127.0.0.1:7860 and prints the URL to open; the page connects with the
 * official Pipecat web client, and each connection runs one bot.
 *
 *   npm start [-- --port N] [-- --host ADDRESS]     (or PORT=N npm start; -- --help says more)
 *   VOICEPIPE_WORKERS=2 npm start                    (sessions on 2 worker threads)
 *
 * Which bot (choose-bot.ts; the line printed at start says which, and why):
 * - the assistant, when the environment has an LLM key (OPENAI_API_KEY, ANTHROPIC_API_KEY,
 *   GEMINI_API_KEY), a speech-to-text (DEEPGRAM_API_KEY, OPENAI_API_KEY, or an installed
 *   pocketsphinx) and a voice (CARTESIA_API_KEY, ELEVENLABS_API_KEY, DEEPGRAM_API_KEY,
 *   OPENAI_API_KEY, or an installed flite); each provider's *_BASE_URL points it elsewhere;
 * - otherwise the echo bot, which needs no API keys. `VOICEPIPE_BOT=echo` forces it.
 * The assistant asks the LLM before the user's turn is confirmed and holds the answer until it is
 * (preemptive generation); `VOICEPIPE_PREEMPTIVE=0` turns that off.
 * Either bot ends the user's turns with the Smart Turn v3 model when `SMART_TURN_MODEL` names its
 * .onnx file (your own download; turn-model.ts): the line says whether it is used, and from where.
 * Phone calls: the development server's `/telephony/<provider>/ws` sockets (Twilio, Telnyx, Plivo,
 * Exotel, Vonage) reach the same handler with `session.telephony` set, and the same bot answers
 * (bot-line.ts; docs/design/voice-bot.md, "Phone calls").
 * Sessions run on the main thread unless `VOICEPIPE_WORKERS=N` asks for N session workers
 * (docs/design/dev-server.md, "Sessions on worker threads": worth it past about 60 sessions on a
 * machine with cores to spare; each worker holds its own Silero model, about 220 MiB).
 * Ctrl-C stops accepting sessions, lets the ones in progress end (5 s), then cancels them; a
 * second Ctrl-C exits at once.
 */
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import {
  EventLoopStallMonitor,
  type RunDevServerOptions,
  checkDevServerArgs,
  createConsoleLogger,
  runDevServer,
} from "../../src/index.js";
import { checkAssistantSettings, runAssistantBot } from "./assistant-bot.js";
import { type BotChoice, chooseBot } from "./choose-bot.js";
import { loadEchoBotVoice, runEchoBot } from "./echo-bot.js";
import type { SessionWorkerData } from "./session-worker.js";
import { type TurnModel, loadTurnModel } from "./turn-model.js";

const USAGE = `npm start [-- --port N] [-- --host ADDRESS] [-- --public-url URL]

  --port N            listen on port N (default: PORT, else 7860; 0 picks a free port)
  --host ADDRESS      listen on ADDRESS (default 127.0.0.1; 0.0.0.0 for every interface)
  --public-url URL    where phone providers reach this server (default VOICEPIPE_PUBLIC_URL)

Environment: provider keys choose the assistant, else the echo bot answers (README.md, "Talk to it");
VOICEPIPE_BOT=echo|assistant, VOICEPIPE_LLM / VOICEPIPE_STT / VOICEPIPE_TTS (a provider to prefer),
VOICEPIPE_PREEMPTIVE=on|off, VOICEPIPE_WORKERS=N (sessions on N worker threads), SMART_TURN_MODEL=file.onnx.`;
/** Most session workers `VOICEPIPE_WORKERS` may ask for (each holds its own Silero model, about 220 MiB). */
const MAX_WORKERS = 256;

const logger = createConsoleLogger(process.env.VOICEPIPE_LOG_LEVEL === "debug" ? "debug" : "info");
const hasProgram = (name: string): boolean => {
  try {
    execFileSync("sh", ["-c", 'command -v "$0"', name], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
let choice: BotChoice;
let workers: number;
try {
  // Everything the command line and the environment say is checked before the seconds spent
  // loading models: a typo is one line at once, not after the load or at the first session.
  checkDevServerArgs();
  choice = chooseBot(process.env, hasProgram);
  if (choice.bot === "assistant") checkAssistantSettings(choice, process.env);
  workers = workerCount(process.env.VOICEPIPE_WORKERS);
} catch (error) {
  console.error(`voicepipe: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
// More session workers than cores only adds memory: each holds its own Silero model.
if (workers > availableParallelism())
  logger.warn(
    `VOICEPIPE_WORKERS=${workers} is more than this machine's ${availableParallelism()} cores: workers past one a core add about 220 MiB each and no sessions`,
  );
// Loaded once for the process (and checked) before the server listens: an unusable model is said
// here, once, and the bot runs without it.
const turnModel = await loadTurnModel(process.env);
if (turnModel.problem) logger.warn(turnModel.problem);
// One per process: every session shares the event loop, so a stall is said once, not per session.
// Started once the server listens: loading the models blocks the loop before any session can
// exist, and a warning about it would be about nobody.
const stalls = new EventLoopStallMonitor({ logger });
try {
  const { stopped } = await runDevServer({
    logger,
    note: `${
      choice.bot === "assistant"
        ? `the assistant answers: ${choice.stt} hears, ${choice.llm} thinks, ${choice.tts} speaks${choice.notes.map((n) => ` (${n})`).join("")}`
        : `the echo bot answers (it plays back what you say): ${choice.why}`
    }; ${turnModel.note}`,
    ...(await sessions(choice, turnModel, workers)),
  });
  stalls.start();
  // Workers on every core leave V8's collector threads no core of their own: they take a worker's,
  // and every session there waits (docs/design/dev-server.md, "Garbage collection on session workers").
  if (workers >= availableParallelism() && !process.execArgv.includes("--single-threaded-gc"))
    logger.info(
      "session workers on every core: start node with --single-threaded-gc for shorter collector pauses (npx tsx --single-threaded-gc examples/03-voice-bot/index.ts)",
    );
  const report = await stopped;
  console.log(
    `voicepipe: stopped (${report.ended} session(s) ended, ${report.cancelled} cancelled, ${report.abandoned} abandoned)`,
  );
} catch (error) {
  console.error(`voicepipe: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  stalls.stop();
  await turnModel.release();
}

/** `VOICEPIPE_WORKERS`: how many session workers (0, the default, runs sessions on this thread). */
function workerCount(value: string | undefined): number {
  const wanted = (value ?? "").trim();
  const count = Number(wanted);
  if (wanted !== "" && (!/^\d+$/.test(wanted) || count > MAX_WORKERS))
    throw new Error(
      `VOICEPIPE_WORKERS must be a whole number of worker threads from 0 (sessions on the main thread) to ${MAX_WORKERS} (got "${value}")`,
    );
  return count;
}

/**
 * Where the sessions run: on this thread (`count` 0), or on `count` worker threads.
 * Each session gets its own analyzer of the process's turn model; worker threads each load the
 * model once for themselves (as they load Silero), so this thread lets go of it.
 */
async function sessions(
  bot: BotChoice,
  turnModel: TurnModel,
  count: number,
): Promise<Pick<RunDevServerOptions, "onSession" | "workers">> {
  if (count > 0) {
    await turnModel.release();
    const data: SessionWorkerData = { ...bot, ...(turnModel.path ? { turnModelPath: turnModel.path } : {}) };
    return { workers: { count, module: new URL("./session-worker.ts", import.meta.url), data } };
  }
  // Loads the shared Silero model (and the echo bot's prompts) before the first session.
  const voice = await loadEchoBotVoice();
  return {
    onSession: async (socket, _request, session) => {
      logger.info(
        `session ${session.id}: started (${bot.bot} bot${session.telephony ? `, a ${session.telephony} call` : ""})`,
      );
      const turnAnalyzer = turnModel.analyzer?.();
      const outcome =
        bot.bot === "assistant"
          ? await runAssistantBot(socket, session, {
              choice: bot,
              logger,
              ...(turnAnalyzer ? { turnAnalyzer } : {}),
            })
          : await runEchoBot(socket, session, { voice, logger, ...(turnAnalyzer ? { turnAnalyzer } : {}) });
      logger.info(`session ${session.id}: ${outcome.how}${outcome.reason ? ` (${outcome.reason})` : ""}`);
    },
  };
}
