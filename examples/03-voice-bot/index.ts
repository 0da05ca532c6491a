/**
 * The voice bot you talk to in the browser: `npm start` runs this file. It starts the
 * development server on 127.0.0.1:7860 and prints the URL to open; the page connects with the
 * official Pipecat web client, and each connection runs one bot.
 *
 *   npm start [-- --port N] [-- --host ADDRESS]     (or PORT=N npm start)
 *
 * Which bot: the echo bot, which needs no API keys. (When provider services land, the same
 * command runs the full assistant when their keys are set; the line printed at start says which.)
 * Ctrl-C stops accepting sessions, lets the ones in progress end (5 s), then cancels them; a
 * second Ctrl-C exits at once.
 */
import { createConsoleLogger, runDevServer } from "../../src/index.js";
import { loadEchoBotVoice, runEchoBot } from "./echo-bot.js";

const logger = createConsoleLogger(process.env.VOICEPIPE_LOG_LEVEL === "debug" ? "debug" : "info");
const voice = await loadEchoBotVoice();
try {
  const { stopped } = await runDevServer({
    logger,
    note: "the echo bot answers (no API keys needed): it plays back what you say",
    onSession: async (socket, _request, session) => {
      logger.info(`session ${session.id}: started (echo bot)`);
      const outcome = await runEchoBot(socket, session, { voice, logger });
      logger.info(`session ${session.id}: ${outcome.how}${outcome.reason ? ` (${outcome.reason})` : ""}`);
    },
  });
  const report = await stopped;
  console.log(
    `voicepipe: stopped (${report.ended} session(s) ended, ${report.cancelled} cancelled, ${report.abandoned} abandoned)`,
  );
} catch (error) {
  console.error(`voicepipe: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
