/**
 * The bot as a session-worker module: with `startDevServer({ workers: { count, module, data } })`
 * (or `VOICEPIPE_WORKERS=N npm start`) each worker thread imports this file and runs the sessions
 * the main thread sends it (docs/design/dev-server.md, "Sessions on worker threads"). `data` is the
 * bot `chooseBot` picked on the main thread, and the turn model's path when the main thread found
 * `SMART_TURN_MODEL` usable. Each worker loads the prompts, its own Silero model and its own turn
 * model once, before its first session.
 */
import type { CreateSessionHandler, SessionHandler } from "../../src/index.js";
import { runAssistantBot } from "./assistant-bot.js";
import type { BotChoice } from "./choose-bot.js";
import { loadEchoBotVoice, runEchoBot } from "./echo-bot.js";
import { TURN_MODEL_VARIABLE, loadTurnModel } from "./turn-model.js";

/** What the main thread sends each worker: the bot, and the turn model's file (checked there). */
export type SessionWorkerData = BotChoice & { readonly turnModelPath?: string };

export const createSessionHandler: CreateSessionHandler = async ({
  logger,
  data,
}): Promise<SessionHandler> => {
  const { turnModelPath, ...choice } = data as SessionWorkerData;
  const [voice, turnModel] = await Promise.all([
    loadEchoBotVoice(),
    loadTurnModel({ [TURN_MODEL_VARIABLE]: turnModelPath }),
  ]);
  if (turnModel.problem) logger.warn(turnModel.problem);
  return async (socket, _request, session) => {
    logger.info(
      `session ${session.id}: started (${choice.bot} bot${session.telephony ? `, a ${session.telephony} call` : ""}, worker thread)`,
    );
    const turnAnalyzer = turnModel.analyzer?.();
    const outcome =
      choice.bot === "assistant"
        ? await runAssistantBot(socket, session, {
            choice,
            logger,
            ...(turnAnalyzer ? { turnAnalyzer } : {}),
          })
        : await runEchoBot(socket, session, { voice, logger, ...(turnAnalyzer ? { turnAnalyzer } : {}) });
    logger.info(`session ${session.id}: ${outcome.how}${outcome.reason ? ` (${outcome.reason})` : ""}`);
  };
};
