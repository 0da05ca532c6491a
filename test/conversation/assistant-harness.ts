import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type AssistantBotOptions,
  type AssistantParts,
  runAssistantBot,
} from "../../examples/03-voice-bot/assistant-bot.js";
import type { AssistantChoice } from "../../examples/03-voice-bot/assistant-bot.js";
import { readWavFile } from "../../src/audio/wav.js";
import type { PipelineTask, TaskOutcome } from "../../src/pipeline/task.js";
import { OpenAILLMService } from "../../src/services/llm/openai/index.js";
import { type DevServer, startDevServer } from "../../src/runner/dev-server.js";
import { type Logger, silentLogger } from "../../src/logger.js";
import type { TelephonyProvider } from "../../src/telephony/index.js";
import {
  type FakeCartesia,
  type FakeCartesiaOptions,
  fakeCartesia,
} from "../services/cartesia/fake-cartesia.js";
import { type LoopbackOpenAI, type Responder, loopbackOpenAI } from "../services/llm/loopback-openai.js";
import { LoopbackClient, MIC_RATE } from "./loopback-client.js";
import { type SpeechDeepgram, type SpeechDeepgramOptions, speechDeepgram } from "./speech-deepgram.js";

/** A folder with the files the server serves as the page (the page itself is not under test here). */
async function standInPage(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "vp-assistant-page-"));
  await writeFile(join(dir, "index.html"), "<!doctype html>");
  for (const file of ["app.js", "THIRD_PARTY_LICENSES.txt"]) await writeFile(join(dir, file), "");
  return dir;
}

/** A spoken utterance cut from a fixture, with its words (from the fixture's `.json`). */
export interface Utterance {
  readonly text: string;
  /** 16 kHz mono PCM16: the speech and `padMs` of the fixture's silence on each side. */
  readonly samples: Int16Array;
}

interface FixtureInfo {
  sampleRate: number;
  speech: { startMs: number; endMs: number; text: string }[];
}

/** The `index`-th speech span of `fixture` (`vad-espeak`, `vad-flite`), with `padMs` around it. */
export async function utterance(
  fixture: "vad-espeak" | "vad-flite",
  index: number,
  padMs = 100,
): Promise<Utterance> {
  const wavPath = fileURLToPath(new URL(`../fixtures/${fixture}.wav`, import.meta.url));
  const jsonPath = fileURLToPath(new URL(`../fixtures/${fixture}.json`, import.meta.url));
  const info = JSON.parse(await readFile(jsonPath, "utf8")) as FixtureInfo;
  const span = info.speech[index];
  if (!span) throw new Error(`${fixture} has no speech span ${index}`);
  const wav = await readWavFile(wavPath);
  if (wav.sampleRate !== MIC_RATE) throw new Error(`${wavPath}: expected ${MIC_RATE} Hz`);
  const at = (ms: number): number =>
    Math.max(0, Math.min(wav.audio.length, Math.round((ms / 1000) * MIC_RATE)));
  return { text: span.text, samples: wav.audio.slice(at(span.startMs - padMs), at(span.endMs + padMs)) };
}

/** Options of {@link startAssistant}. */
export interface AssistantHarnessOptions {
  /** The OpenAI-compatible server's answers, by request number (1-based). */
  readonly llm: Responder;
  /** A second OpenAI-compatible server, when given: the bot's `fallbackLLM` (an `OpenAILLMService` on it). */
  readonly backupLlm?: Responder;
  /** What the user's utterances say, in order (the loopback Deepgram's script). */
  readonly deepgram?: SpeechDeepgramOptions;
  readonly cartesia?: FakeCartesiaOptions;
  readonly choice?: AssistantChoice;
  readonly greeting?: string;
  /** More options for the bot (e.g. a backup LLM base URL in `env`). */
  readonly bot?: Partial<AssistantBotOptions>;
  readonly logger?: Logger;
}

/** One session the assistant ran, in the order they started. */
export interface AssistantSession {
  /** The session's task and parts, once `onTask` was called. */
  task?: PipelineTask;
  parts?: AssistantParts;
  /** Resolves with the session's outcome when it ends (rejects when the bot threw). */
  readonly outcome: Promise<TaskOutcome>;
}

/** One running assistant on loopback providers, and its client. */
export interface AssistantHarness {
  readonly server: DevServer;
  readonly openai: LoopbackOpenAI;
  readonly backupOpenai: LoopbackOpenAI | undefined;
  readonly deepgram: SpeechDeepgram | undefined;
  readonly cartesia: FakeCartesia | undefined;
  /** The latest session's task and parts, once `onTask` was called. */
  session(): { task: PipelineTask; parts: AssistantParts };
  /** Resolves with the first session's outcome when it ends. */
  readonly outcome: Promise<TaskOutcome>;
  /** Every session, in the order they started. */
  readonly sessions: readonly AssistantSession[];
  connect(): Promise<LoopbackClient>;
  /** The server's session socket (`ws://…/ws`), for clients that do not go through `POST /start`. */
  readonly wsUrl: string;
  /** The development server's media-stream socket of `provider` (`ws://…/telephony/<provider>/ws`), for a fake caller. */
  callUrl(provider: TelephonyProvider): string;
  close(): Promise<void>;
}

/**
 * The development server running `runAssistantBot` (what `npm start` runs) on each socket, with
 * `env` pointing DEEPGRAM_BASE_URL, OPENAI_BASE_URL and CARTESIA_BASE_URL (and keys) at loopback
 * servers speaking each provider's protocol.
 */
export async function startAssistant(options: AssistantHarnessOptions): Promise<AssistantHarness> {
  const choice = options.choice ?? { stt: "deepgram", llm: "openai", tts: "cartesia" };
  const openai = await loopbackOpenAI(options.llm);
  const backupOpenai = options.backupLlm ? await loopbackOpenAI(options.backupLlm) : undefined;
  const deepgram =
    choice.stt === "deepgram" ? await speechDeepgram(options.deepgram ?? { utterances: [] }) : undefined;
  const cartesia = choice.tts === "cartesia" ? await fakeCartesia(options.cartesia) : undefined;
  const env: Record<string, string> = {
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: openai.baseURL,
    OPENAI_MODEL: "gpt-test",
    ...(deepgram ? { DEEPGRAM_API_KEY: "test-key", DEEPGRAM_BASE_URL: deepgram.baseUrl } : {}),
    ...(cartesia ? { CARTESIA_API_KEY: "test-key", CARTESIA_BASE_URL: cartesia.baseUrl } : {}),
    ...(options.bot?.env as Record<string, string> | undefined),
  };
  let session: { task: PipelineTask; parts: AssistantParts } | undefined;
  const sessions: AssistantSession[] = [];
  let settleFirst: (outcome: Promise<TaskOutcome>) => void = () => {};
  const outcome = new Promise<TaskOutcome>((resolve) => (settleFirst = resolve));
  outcome.catch(() => {});
  const logger = options.logger ?? silentLogger;
  const page = await standInPage();
  const server = await startDevServer({
    port: 0,
    clientDir: page,
    logger,
    // Telephony sockets (`/telephony/<provider>/ws`) reach this handler with `telephony` set, as
    // `npm start` runs them.
    onSession: async (socket, _request, devSession) => {
      const record: AssistantSession = {
        outcome: runAssistantBot(socket, devSession, {
          choice,
          logger,
          ambienceVolume: 0,
          ...(options.greeting === undefined ? {} : { greeting: options.greeting }),
          ...options.bot,
          ...(backupOpenai
            ? {
                fallbackLLM: new OpenAILLMService({
                  baseURL: backupOpenai.baseURL,
                  apiKey: "sk-backup",
                  model: "backup-model",
                }),
              }
            : {}),
          env,
          onTask: (task, parts) => {
            session = { task, parts };
            Object.assign(record, { task, parts });
            options.bot?.onTask?.(task, parts);
          },
        }),
      };
      record.outcome.catch(() => {});
      if (sessions.length === 0) settleFirst(record.outcome);
      sessions.push(record);
      await record.outcome.catch(() => {});
    },
  });
  const clients: LoopbackClient[] = [];
  return {
    server,
    openai,
    backupOpenai,
    deepgram,
    cartesia,
    session() {
      if (!session) throw new Error("the assistant has not started a session yet");
      return session;
    },
    outcome,
    sessions,
    wsUrl: server.url.replace(/^http/u, "ws") + "ws",
    callUrl: (provider) => `${server.url.replace(/^http/u, "ws")}telephony/${provider}/ws`,
    async connect() {
      const client = await LoopbackClient.connect(server.url);
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients) c.close();
      await server.close({ graceMs: 500, cancelTimeoutMs: 1000 });
      await openai.close();
      await backupOpenai?.close();
      await deepgram?.close();
      await cartesia?.close();
      await rm(page, { recursive: true, force: true });
    },
  };
}
