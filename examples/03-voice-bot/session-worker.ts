/**
 * The bot as a session-worker module: with `startDevServer({ workers: { count, module, data } })`
 * (or `VOICEPIPE_WORKERS=N npm start`) each worker thread imports this file and runs the sessions
 * the main thread sends it (docs/design/dev-server.md, "Sessions on worker threads"). `data` is the
 * bot `chooseBot` picked on the main thread. Each worker loads the prompts and its own Silero model
 * once, before its first session.
 */
import type { CreateSessionHandler, SessionHandler } from "../../src/index.js";
import { runAssistantBot } from "./assistant-bot.js";
import type { BotChoice } from "./choose-bot.js";
import { loadEchoBotVoice, runEchoBot } from "./echo-bot.js";

export const createSessionHandler: CreateSessionHandler = async ({
  logger,
  data,
}): Promise<SessionHandler> => {
  const choice = data as BotChoice;
  const voice = await loadEchoBotVoice();
  return async (socket, _request, session) => {
    logger.info(
      `session ${session.id}: started (${choice.bot} bot${session.telephony ? `, a ${session.telephony} call` : ""}, worker thread)`,
    );
    const outcome =
      choice.bot === "assistant"
        ? await runAssistantBot(socket, session, { choice, logger })
        : await runEchoBot(socket, session, { voice, logger });
    logger.info(`session ${session.id}: ${outcome.how}${outcome.reason ? ` (${outcome.reason})` : ""}`);
  };
};
