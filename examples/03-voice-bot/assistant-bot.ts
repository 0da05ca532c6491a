/**
 * The assistant `npm start` runs when there are credentials for it (see choose-bot.ts): it hears
 * the user with a speech-to-text service, answers with an LLM that can call a tool, and speaks with
 * a text-to-speech service; the user can barge in at any time, and what the bot said before the
 * barge-in is what the conversation remembers.
 *
 *   browser ─ws─▶ input ─▶ RTVI ─▶ Silero VAD ─▶ STT ─▶ user turns ─▶ user aggregator ─▶ LLM (+ tools) ─▶ TTS ─▶ gate ─▶ output ─ws─▶ browser
 *                                                                                                                   └─▶ assistant aggregator
 *
 * A phone call (bot-line.ts) runs the same pipeline without RTVI and the gate, at the stream's rate.
 * With a turn model (`turnAnalyzer`, from `SMART_TURN_MODEL`: turn-model.ts) the model decides when
 * the user's turn ends (see `turnOptions`).
 */
import type { WebSocket } from "ws";
import { SileroVADAnalyzer } from "../../src/audio/vad/silero.js";
import { defineTool } from "../../src/context/index.js";
import type { WebSocketTransport } from "../../src/index.js";
import {
  type Clock,
  CommandTTSService,
  type DevSession,
  LLMContext,
  LLMContextAggregatorPair,
  type LLMService,
  LLMSwitcher,
  type Logger,
  Pipeline,
  PipelineTask,
  PocketsphinxSTTService,
  type STTService,
  STTEndOfTurnStopStrategy,
  SpeechTimeoutStopStrategy,
  type TTSService,
  type TaskOutcome,
  TTSSpeakFrame,
  TranscriptionStartStrategy,
  type TurnAnalyzer,
  TurnAnalyzerStopStrategy,
  TurnLatencyObserver,
  UserTurnProcessor,
  type UserTurnProcessorOptions,
  VADProcessor,
  VADStartStrategy,
  VADStopStrategy,
  fliteCommand,
} from "../../src/index.js";
import { AnthropicLLMService } from "../../src/services/anthropic/index.js";
import { CartesiaTTSService } from "../../src/services/cartesia/index.js";
import { DeepgramSTTService, DeepgramTTSService } from "../../src/services/deepgram/index.js";
import { ElevenLabsTTSService } from "../../src/services/elevenlabs/index.js";
import { GeminiLLMService } from "../../src/services/gemini/index.js";
import { OpenAILLMService, OpenAISTTService, OpenAITTSService } from "../../src/services/llm/openai/index.js";
import type { TelephonyCall } from "../../src/telephony/index.js";
import type { LLMChoice, STTChoice, TTSChoice } from "./choose-bot.js";
import { openBotLine } from "./bot-line.js";

/** The providers of one assistant (from `chooseBot`). */
export interface AssistantChoice {
  readonly stt: STTChoice;
  readonly llm: LLMChoice;
  readonly tts: TTSChoice;
}

/** Options of {@link runAssistantBot}. */
export interface AssistantBotOptions {
  choice: AssistantChoice;
  /** Where each provider's key and endpoint are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** @default a SystemClock */
  clock?: Clock;
  logger?: Logger;
  /** Volume of the background ambience, 0–1; 0 leaves it out. @default 0.1 */
  ambienceVolume?: number;
  /** What the bot says when the client is ready. @default a short hello */
  greeting?: string;
  /**
   * A second LLM the assistant fails over to, within the turn, when the first one's request fails
   * before its answer starts (server errors, a stall, a rejected key): for example a local
   * OpenAI-compatible server. Gets the same tools. @default none (one LLM)
   */
  fallbackLLM?: LLMService;
  /**
   * An end-of-turn model for this session (one per session: it holds the turn's audio), e.g. a
   * `SmartTurnAnalyzer`. With it the user's turn ends when the model says the user finished, at
   * most 3 s after they stop, instead of on the speech timeout or the VAD's stop. @default none
   */
  turnAnalyzer?: TurnAnalyzer;
  /**
   * Start the LLM's answer when the user's words look complete, before the turn is confirmed
   * (`LLMUserAggregator`'s `preemptiveGeneration`): the answer is held, and used if the turn ends
   * with those words, so the LLM's time hides in the turn-detection wait. Costs a request each
   * time the user goes on after a guess (at most 3 per turn).
   * @default true, unless `VOICEPIPE_PREEMPTIVE` in `env` is `0`, `off`, `false` or `no`
   */
  preemptiveGeneration?: boolean;
  /** Called with the pipeline task and its parts once they exist (tests and metrics). */
  onTask?: (task: PipelineTask, parts: AssistantParts) => void;
}

/** The parts of one session's assistant, for tests and metrics. */
export interface AssistantParts {
  readonly transport: WebSocketTransport;
  readonly context: LLMContext;
  /** The LLM chosen from the environment (the first of the switcher, with a `fallbackLLM`). */
  readonly llm: LLMService;
  /** With a `fallbackLLM`: the switcher in the pipeline. */
  readonly llmSwitcher: LLMSwitcher | undefined;
  /** The TTS chosen from the environment. */
  readonly tts: TTSService;
  readonly latency: TurnLatencyObserver;
  /** The phone call, when the session is one. */
  readonly call: TelephonyCall | undefined;
}

const INSTRUCTIONS =
  "You are a helpful voice assistant built with voicepipe. Your answers are spoken aloud: keep them short " +
  "(one to three sentences), plain text without markdown, lists or emoji. When asked the time or the date, " +
  "use the get_current_time tool.";

/** The tool the assistant offers out of the box, so function calling is visible in the default run. */
export const getCurrentTime = defineTool({
  name: "get_current_time",
  description: "The current date and time, in a given IANA time zone (default: the server's)",
  parameters: {
    type: "object",
    properties: { timeZone: { type: "string", description: 'e.g. "Europe/Paris"' } },
  },
});

/**
 * Whether the assistant uses preemptive generation, from `VOICEPIPE_PREEMPTIVE`: on when unset or
 * empty, or `1`, `on`, `true`, `yes`; off for `0`, `off`, `false`, `no` (any case, spaces ignored).
 * @throws Error for any other value (a typo must not silently mean on)
 */
export function preemptiveFromEnv(env: Readonly<Record<string, string | undefined>>): boolean {
  const value = (env.VOICEPIPE_PREEMPTIVE ?? "").trim().toLowerCase();
  if (["", "1", "on", "true", "yes"].includes(value)) return true;
  if (["0", "off", "false", "no"].includes(value)) return false;
  throw new Error(
    `VOICEPIPE_PREEMPTIVE must be on or off (1/0, true/false, yes/no), or unset (got ${JSON.stringify(env.VOICEPIPE_PREEMPTIVE)})`,
  );
}

/**
 * Reads the assistant's settings from `env` and builds its services once, then lets them go (no
 * service connects before it starts), so a setting one refuses, such as a `*_BASE_URL` that is not
 * a URL or a `VOICEPIPE_PREEMPTIVE` it cannot read, is said once when `npm start` starts, not at
 * every session.
 * @throws what was refused, in the service's words
 */
export function checkAssistantSettings(
  choice: AssistantChoice,
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  preemptiveFromEnv(env);
  createSTT(choice.stt, env);
  createLLM(choice.llm, env);
  createTTS(choice.tts, env);
}

/** The answer of {@link getCurrentTime}; an unknown zone throws (the model is told the message). */
export function currentTime(
  timeZone: string | undefined,
  at: Date = new Date(),
): { time: string; timeZone: string } {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-US", { dateStyle: "full", timeStyle: "short", timeZone });
  } catch {
    throw new Error(`unknown time zone ${JSON.stringify(timeZone)}; use an IANA name such as "Europe/Paris"`);
  }
  return { time: format.format(at), timeZone: format.resolvedOptions().timeZone };
}

/** Speech-to-text for `choice`: keys and endpoints from `env` (each service's own variables). */
function createSTT(choice: STTChoice, env: Readonly<Record<string, string | undefined>>): STTService {
  switch (choice) {
    case "deepgram":
      return new DeepgramSTTService({ env });
    case "openai":
      return new OpenAISTTService({ env });
    case "pocketsphinx":
      return new PocketsphinxSTTService();
  }
}

function createLLM(choice: LLMChoice, env: Readonly<Record<string, string | undefined>>): LLMService {
  switch (choice) {
    case "openai":
      return new OpenAILLMService({ model: env.OPENAI_MODEL ?? "gpt-4o-mini", env });
    case "anthropic":
      return new AnthropicLLMService({ env, ...(env.ANTHROPIC_MODEL ? { model: env.ANTHROPIC_MODEL } : {}) });
    case "gemini":
      return new GeminiLLMService({ env, ...(env.GEMINI_MODEL ? { model: env.GEMINI_MODEL } : {}) });
  }
}

function createTTS(choice: TTSChoice, env: Readonly<Record<string, string | undefined>>): TTSService {
  switch (choice) {
    case "cartesia":
      return new CartesiaTTSService({ env });
    case "elevenlabs":
      return new ElevenLabsTTSService({ env });
    case "deepgram":
      return new DeepgramTTSService({ env });
    case "openai":
      return new OpenAITTSService({ env });
    case "flite":
      return new CommandTTSService({ command: fliteCommand({ voice: "slt" }) });
  }
}

/**
 * How turns end. A streaming recogniser (Deepgram) transcribes while the user speaks: the turn ends
 * 300 ms after the VAD's stop (200 ms) and the last words, or at once at the VAD's stop when the
 * provider has already said the utterance ended; a transcript also starts a turn (speech the VAD
 * missed). A segmented one transcribes only after the stop, so the VAD's stop (600 ms, a sentence
 * is not cut at its commas) ends the turn and the user aggregator waits for the transcript.
 *
 * With a turn model, the VAD starts the turn and the model alone ends it (at a VAD stop it says
 * "complete"; else its fallback, 3 s after the stop). The speech timeout and Deepgram's end of turn
 * both fire within 300 ms of the stop, so either would end every turn before the model could hold
 * one open. A transcript no longer starts a turn: the model judges the audio the VAD heard, and a
 * turn started by a transcript before the VAD has none to judge (it would end on the fallback); a
 * final transcript the VAD missed is still answered, as a turn of its own (the user aggregator).
 * The VAD stays as it was (200 ms with Deepgram, as Pipecat pairs Smart Turn; 600 ms with a
 * segmented recogniser, whose every VAD stop is a transcription request).
 */
function turnOptions(
  stt: STTChoice,
  analyzer: TurnAnalyzer | undefined,
): {
  vadStopMs: number;
  turns: UserTurnProcessorOptions;
  transcriptWaitMs: number;
} {
  if (analyzer) {
    return {
      vadStopMs: stt === "deepgram" ? 200 : 600,
      turns: { stopStrategies: [new TurnAnalyzerStopStrategy({ analyzer })] },
      transcriptWaitMs: stt === "deepgram" ? 1000 : 4000,
    };
  }
  if (stt === "deepgram") {
    return {
      vadStopMs: 200,
      turns: {
        startStrategies: [new VADStartStrategy(), new TranscriptionStartStrategy()],
        stopStrategies: [new STTEndOfTurnStopStrategy(), new SpeechTimeoutStopStrategy({ timeoutMs: 300 })],
      },
      transcriptWaitMs: 1000,
    };
  }
  return { vadStopMs: 600, turns: { stopStrategies: [new VADStopStrategy()] }, transcriptWaitMs: 4000 };
}

/**
 * Runs the assistant on one WebSocket from the development server until the session ends: a
 * browser page, or a phone call when the socket is a provider's media stream (`session.telephony`:
 * the pipeline runs at the stream's rate, so the TTS speaks at the rate the caller hears).
 */
export async function runAssistantBot(
  socket: WebSocket,
  session: DevSession,
  options: AssistantBotOptions,
): Promise<TaskOutcome> {
  const { choice } = options;
  const env = options.env ?? process.env;
  const ambienceVolume = options.ambienceVolume ?? 0.1;
  const line = await openBotLine(socket, session, {
    ambienceVolume,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const { transport } = line;
  const turn = turnOptions(choice.stt, options.turnAnalyzer);
  const context = new LLMContext({ messages: [{ role: "system", content: INSTRUCTIONS }], maxMessages: 200 });
  const aggregators = new LLMContextAggregatorPair(context, {
    user: {
      transcriptWaitMs: turn.transcriptWaitMs,
      preemptiveGeneration: options.preemptiveGeneration ?? preemptiveFromEnv(env),
    },
  });
  const llm = createLLM(choice.llm, env);
  const llms = options.fallbackLLM ? [llm, options.fallbackLLM] : [llm];
  for (const service of llms) {
    service.registerFunction(getCurrentTime, ({ timeZone }) => currentTime(timeZone), { timeoutMs: 2_000 });
  }
  const llmSwitcher = options.fallbackLLM ? new LLMSwitcher(llms) : undefined;
  const tts = createTTS(choice.tts, env);
  const latency = new TurnLatencyObserver({ ...(options.logger ? { logger: options.logger } : {}) });
  const processors = line.processors(
    [
      new VADProcessor({ analyzer: new SileroVADAnalyzer({ params: { stopMs: turn.vadStopMs } }) }),
      createSTT(choice.stt, env),
      new UserTurnProcessor(turn.turns),
      aggregators.user(),
      llmSwitcher ?? llm,
      tts,
    ],
    [aggregators.assistant()],
  );
  const task = new PipelineTask(new Pipeline(processors), {
    params: line.params,
    observers: [...line.observers, latency],
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const greeting =
    options.greeting ?? "Hello! I am the voicepipe assistant. Ask me anything, or ask me the time.";
  transport.on("clientConnected", () => task.queueFrame(new TTSSpeakFrame(greeting)));
  options.onTask?.(task, { transport, context, llm, llmSwitcher, tts, latency, call: line.call });
  return line.run(task, session);
}
