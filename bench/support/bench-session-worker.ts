/**
 * The session-worker module of `bench/websocket-sessions.ts workers=N`: the echo bot as
 * `npm start` runs it, with each session's output writes timed in this thread. The bench's main
 * thread opens and closes the windows over a `BroadcastChannel`; each worker answers with what
 * its thread measured (a {@link ThreadWindow}).
 */
import { BroadcastChannel } from "node:worker_threads";
import { loadEchoBotVoice, runEchoBot } from "../../examples/03-voice-bot/echo-bot.js";
import type { CreateSessionHandler, SessionHandler } from "../../src/runner/dev-server.js";
import type { WebSocketOutputTransport } from "../../src/transports/websocket/websocket-output.js";
import { type ThreadWindow, ThreadTimings, countingLogger } from "./session-timing.js";

/** Main → workers: `start` / `stop` a window; workers → main: their window. */
export type BenchChannelMessage =
  | { type: "start" }
  | { type: "stop" }
  | { type: "window"; worker: number; window: ThreadWindow; rss: number };

export const BENCH_CHANNEL = "voicepipe-bench-websocket-sessions";

export const createSessionHandler: CreateSessionHandler = async ({ index }): Promise<SessionHandler> => {
  const voice = await loadEchoBotVoice();
  const timings = new ThreadTimings();
  const logger = countingLogger();
  const logs = (): number => logger.warnings + logger.errors;
  const channel = new BroadcastChannel(BENCH_CHANNEL);
  // The channel must not keep the worker alive once the server tells it to exit.
  channel.unref();
  channel.onmessage = (event) => {
    const message = (event as { data: BenchChannelMessage }).data;
    if (message.type === "start") timings.start(logs());
    else if (message.type === "stop")
      channel.postMessage({
        type: "window",
        worker: index,
        window: timings.stop(logs()),
        rss: process.memoryUsage().rss,
      } satisfies BenchChannelMessage);
  };
  return async (socket, _request, session) => {
    let timing: ReturnType<ThreadTimings["timeWrites"]> | undefined;
    try {
      await runEchoBot(socket, session, {
        voice,
        logger,
        onTask: (_task, transport) => {
          timing = timings.timeWrites(transport.output() as WebSocketOutputTransport);
        },
      });
    } finally {
      if (timing) timings.sessions.delete(timing);
      timings.ended++;
    }
  };
};
