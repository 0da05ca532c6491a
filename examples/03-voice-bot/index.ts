/**
 * The voice bot you talk to in the browser: `npm start` runs this file. It starts the
 * development server on 127.0.0.1:7860 and prints the URL to open; the page connects with the
 * official Pipecat web client, and each connection runs one bot.
 *
 *   npm start [-- --port N] [-- --host ADDRESS]     (or PORT=N npm start)
 *   VOICEPIPE_WORKERS=2 npm start                    (sessions on 2 worker threads)
 *
 * Which bot: the echo bot, which needs no API keys. (When provider services land, the same
 * command runs the full assistant when their keys are set; the line printed at start says which.)
 * Sessions run on the main thread unless `VOICEPIPE_WORKERS=N` asks for N session workers
 * (docs/design/dev-server.md, "Sessions on worker threads": worth it past about 60 sessions on a
 * machine with cores to spare; each worker holds its own Silero model, about 220 MiB).
 * Ctrl-C stops accepting sessions, lets the ones in progress end (5 s), then cancels them; a
 * second Ctrl-C exits at once.
 */
import { type RunDevServerOptions, createConsoleLogger, runDevServer } from "../../src/index.js";
import { loadEchoBotVoice, runEchoBot } from "./echo-bot.js";

const logger = createConsoleLogger(process.env.VOICEPIPE_LOG_LEVEL === "debug" ? "debug" : "info");
try {
  const { stopped } = await runDevServer({
    logger,
    note: "the echo bot answers (no API keys needed): it plays back what you say",
    ...(await sessions(process.env.VOICEPIPE_WORKERS)),
  });
  const report = await stopped;
  console.log(
    `voicepipe: stopped (${report.ended} session(s) ended, ${report.cancelled} cancelled, ${report.abandoned} abandoned)`,
  );
} catch (error) {
  console.error(`voicepipe: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}

/** Where the sessions run: on this thread (the default), or on `VOICEPIPE_WORKERS` worker threads. */
async function sessions(
  workers: string | undefined,
): Promise<Pick<RunDevServerOptions, "onSession" | "workers">> {
  if (workers !== undefined && workers.trim() !== "" && workers.trim() !== "0") {
    const count = Number(workers);
    if (!Number.isInteger(count) || count < 1)
      throw new Error(`VOICEPIPE_WORKERS must be a whole number of worker threads ≥ 0 (got "${workers}")`);
    return { workers: { count, module: new URL("./echo-worker.ts", import.meta.url) } };
  }
  const voice = await loadEchoBotVoice();
  return {
    onSession: async (socket, _request, session) => {
      logger.info(`session ${session.id}: started (echo bot)`);
      const outcome = await runEchoBot(socket, session, { voice, logger });
      logger.info(`session ${session.id}: ${outcome.how}${outcome.reason ? ` (${outcome.reason})` : ""}`);
    },
  };
}
