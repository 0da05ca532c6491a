/**
 * The default bot: it needs no API keys and nothing outside npm. It greets the user, plays quiet
 * background ambience, hears the user's turns with Silero VAD, answers each turn by playing back
 * what it heard, stops talking at once when the user barges in, and ends when the user
 * disconnects or hangs up (or the development server closes, or the session reaches its time
 * limit). It answers the browser page and phone calls alike (bot-line.ts).
 *
 *   browser ──ws──▶ input ─▶ RTVI ─▶ Silero VAD ─▶ user turns ─▶ echo ─▶ gate ─▶ output (24 kHz + ambience) ──ws──▶ browser
 *   phone   ──ws──▶ input ─────────▶ Silero VAD ─▶ user turns ─▶ echo ─────────▶ output (8 kHz + ambience) ──ws──▶ provider
 *
 * With a turn model (`turnAnalyzer`, from `SMART_TURN_MODEL`: turn-model.ts) the model decides
 * when the user's turn ends, so a pause inside a sentence no longer cuts the echo in two.
 */
import { fileURLToPath } from "node:url";
import type { WebSocket } from "ws";
import { SileroVADAnalyzer } from "../../src/audio/vad/silero.js";
import {
  BotOutputFrame,
  type Clock,
  type DevSession,
  type Logger,
  Pipeline,
  PipelineTask,
  type TaskOutcome,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  type TurnAnalyzer,
  TurnAnalyzerStopStrategy,
  UserTurnProcessor,
  VADProcessor,
  type WebSocketTransport,
  readWavFile,
} from "../../src/index.js";
import { type BotLine, openBotLine } from "./bot-line.js";
import { type AudioClip, EchoProcessor } from "./echo.js";

const asset = (name: string): string => fileURLToPath(new URL(`../assets/${name}`, import.meta.url));

/** What the bot says, loaded once per process and shared by every session (frames never write to their audio). */
export interface EchoBotVoice {
  readonly greeting: AudioClip;
  readonly greetingText: string;
  readonly announcement: AudioClip;
}

/**
 * Loads the bot's prompts from `examples/assets` (24 kHz mono WAV files) and the Silero model.
 * The model is loaded once per process (a shared worker thread): loading it here, before the
 * first session, keeps the first user from waiting for it (the pipeline starts only when every
 * processor is ready, and the client's `connect()` only when the pipeline has answered).
 */
export async function loadEchoBotVoice(): Promise<EchoBotVoice> {
  const [greeting, announcement] = await Promise.all([
    readWavFile(asset("greeting.wav")),
    readWavFile(asset("you-said.wav")),
    new SileroVADAnalyzer().ready(),
  ]);
  return {
    greeting,
    greetingText: "Hello! I am the voicepipe echo bot. Say something, and I will say it back to you.",
    announcement,
  };
}

/** Options of {@link runEchoBot}. */
export interface EchoBotOptions {
  voice: EchoBotVoice;
  /** @default a SystemClock */
  clock?: Clock;
  logger?: Logger;
  /** Volume of the background ambience, 0–1; 0 leaves it out. @default 0.15 */
  ambienceVolume?: number;
  /**
   * An end-of-turn model for this session (one per session: it holds the turn's audio), e.g. a
   * `SmartTurnAnalyzer`. With it the user's turn ends when the model says the user finished
   * (`TurnAnalyzerStopStrategy`), at most 3 s after they stop; without it, 600 ms of silence ends
   * it. @default none
   */
  turnAnalyzer?: TurnAnalyzer;
  /** Called with the pipeline task once it exists (tests and metrics). */
  onTask?: (task: PipelineTask, transport: WebSocketTransport, line: BotLine) => void;
}

/**
 * Runs the echo bot on one WebSocket from the development server until the session ends: a
 * browser page, or a phone call when the socket is a provider's media stream
 * (`session.telephony`; the call is answered at the stream's rate, 8 kHz for most providers).
 * Rejects only when a call's stream never says what the call is (`CallStartError`).
 */
export async function runEchoBot(
  socket: WebSocket,
  session: DevSession,
  options: EchoBotOptions,
): Promise<TaskOutcome> {
  const { voice } = options;
  const line = await openBotLine(socket, session, {
    ambienceVolume: options.ambienceVolume ?? 0.15,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const { transport } = line;
  const turns = echoTurns(options.turnAnalyzer);
  const vad = new VADProcessor({ analyzer: new SileroVADAnalyzer({ params: { stopMs: turns.vadStopMs } }) });
  const task = new PipelineTask(
    new Pipeline(
      line.processors([
        vad,
        new UserTurnProcessor(turns.stopStrategies ? { stopStrategies: turns.stopStrategies } : {}),
        new EchoProcessor({ announcement: voice.announcement }),
      ]),
    ),
    {
      params: line.params,
      observers: line.observers,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    },
  );
  transport.on("clientConnected", () => {
    task.queueFrames([
      new TTSStartedFrame(),
      new BotOutputFrame({ text: voice.greetingText }),
      new TTSAudioRawFrame(voice.greeting.audio, voice.greeting.sampleRate),
      new TTSStoppedFrame(),
    ]);
  });
  options.onTask?.(task, transport, line);
  return line.run(task, session);
}

/**
 * How the echo bot's turns end. Without a turn model, the VAD's stop after 600 ms of silence:
 * short pauses inside a sentence do not cut it in two. With one, the VAD stops after 200 ms
 * (Smart Turn's pairing, as Pipecat's) and the model is asked at each stop: "complete" ends the
 * turn, "incomplete" waits for more speech, at most 3 s (the strategy's fallback).
 */
function echoTurns(analyzer: TurnAnalyzer | undefined): {
  vadStopMs: number;
  stopStrategies: TurnAnalyzerStopStrategy[] | undefined;
} {
  if (!analyzer) return { vadStopMs: 600, stopStrategies: undefined };
  return { vadStopMs: 200, stopStrategies: [new TurnAnalyzerStopStrategy({ analyzer })] };
}
