/**
 * The echo bot as a session-worker module: with `startDevServer({ workers: { count, module } })`
 * (or `VOICEPIPE_WORKERS=N npm start`) each worker thread imports this file and runs the sessions
 * the main thread sends it (docs/design/dev-server.md, "Sessions on worker threads"). Each worker
 * loads the prompts and its own Silero model once, before its first session.
 */
import type { CreateSessionHandler, SessionHandler } from "../../src/index.js";
import { loadEchoBotVoice, runEchoBot } from "./echo-bot.js";

export const createSessionHandler: CreateSessionHandler = async ({ logger }): Promise<SessionHandler> => {
  const voice = await loadEchoBotVoice();
  return async (socket, _request, session) => {
    logger.info(`session ${session.id}: started (echo bot, worker thread)`);
    const outcome = await runEchoBot(socket, session, { voice, logger });
    logger.info(`session ${session.id}: ${outcome.how}${outcome.reason ? ` (${outcome.reason})` : ""}`);
  };
};
