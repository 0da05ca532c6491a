/**
 * Everything of `bench/turn-latency.ts` that is not the bot, run as its own process (forked with an
 * IPC channel), as it is in a real deployment: the loopback Deepgram, OpenAI-compatible and
 * Cartesia servers (they answer at once) and the user's client (the official web client's
 * protocol, recorded speech streamed in real time). Their work then does not take turns with the
 * bot's on one event loop: each loopback hop is a hop to another process, as a hop to a provider is.
 *
 * 1. Starts the three servers and sends `{ type: "services", env }` (the bot's provider variables).
 * 2. On `{ type: "run", serverUrl, turns, warmup }` connects to the development server, waits for
 *    the greeting to end, then speaks `turns + warmup` utterances, each after the previous answer
 *    ended, and sends `{ type: "done", clientMs }`: per measured turn, the client's own view (last
 *    loud sample sent → first bot audio received), or `{ type: "failed", message }`.
 */
import { answer, loopbackOpenAI } from "../../test/services/llm/loopback-openai.js";
import { fakeCartesia } from "../../test/services/cartesia/fake-cartesia.js";
import { speechDeepgram } from "../../test/conversation/speech-deepgram.js";
import { LoopbackClient } from "../../test/conversation/loopback-client.js";
import { benchPhrases, converse } from "./converse.js";

/** What the parent sends. */
export type ToWorld = { type: "run"; serverUrl: string; turns: number; warmup: number };
/** What this process sends back. */
export type FromWorld =
  | { type: "services"; env: Record<string, string> }
  | { type: "done"; clientMs: number[] }
  | { type: "failed"; message: string };

const send = (m: FromWorld): void => void process.send?.(m);

const phrases = await benchPhrases();
// Scripted for more turns than the parent asks for.
const script = Array.from({ length: 1000 }, (_, i) => phrases[i % 2]!.text);
const openai = await loopbackOpenAI((sse) => answer(sse, ["Sure", "."]));
const deepgram = await speechDeepgram({ utterances: script });
const cartesia = await fakeCartesia({ msPerChar: 5 });
const run = new Promise<ToWorld>((resolve) => process.once("message", (m: ToWorld) => resolve(m)));
send({
  type: "services",
  env: {
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: openai.baseURL,
    OPENAI_MODEL: "gpt-test",
    DEEPGRAM_API_KEY: "test-key",
    DEEPGRAM_BASE_URL: deepgram.baseUrl,
    CARTESIA_API_KEY: "test-key",
    CARTESIA_BASE_URL: cartesia.baseUrl,
  },
});
try {
  const { serverUrl, turns, warmup } = await run;
  const client = await LoopbackClient.connect(serverUrl);
  try {
    send({ type: "done", clientMs: await converse(client, phrases, turns, warmup) });
  } finally {
    client.close();
  }
} catch (e) {
  send({ type: "failed", message: e instanceof Error ? e.message : String(e) });
} finally {
  await Promise.allSettled([openai.close(), deepgram.close(), cartesia.close()]);
  process.disconnect?.();
}
