/**
 * The default bot: it needs no API keys and nothing outside npm. It greets the user, plays quiet
 * background ambience, hears the user's turns with Silero VAD, answers each turn by playing back
 * what it heard, stops talking at once when the user barges in, and ends when the user
 * disconnects (or the development server closes, or the session reaches its time limit).
 *
 *   browser ──ws──▶ input ─▶ RTVI ─▶ Silero VAD ─▶ user turns ─▶ echo ─▶ gate ─▶ output (24 kHz + ambience) ──ws──▶ browser
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
  SoundfileMixer,
  type TaskOutcome,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  UserTurnProcessor,
  VADProcessor,
  WebSocketTransport,
  readWavFile,
  runSessionTask,
} from "../../src/index.js";
import { RTVIOutputGate, RTVIProcessor } from "../../src/processors/rtvi/index.js";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";
import { type AudioClip, EchoProcessor } from "./echo.js";

const asset = (name: string): string => fileURLToPath(new URL(`../assets/${name}`, import.meta.url));

/** The background ambience both bots play under everything (a WAV in `examples/assets`). */
export const ambiencePath = asset("ambience.wav");

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

/**
 * The WebSocket transport both bots use: the protobuf wire format, 16 kHz microphone audio in, and
 * out what the official web client plays whatever a frame says (24 kHz mono), in 40 ms frames: half
 * the writes of 20 ms ones (about a fifth of the CPU of a session) for at most 20 ms more audio
 * sent ahead of a barge-in (bench/websocket-sessions.ts). Ambience at `ambienceVolume` (0: none).
 */
export function botTransport(
  socket: WebSocket,
  session: DevSession,
  ambienceVolume: number,
): WebSocketTransport {
  return new WebSocketTransport(socket, {
    serializer: new ProtobufFrameSerializer(),
    name: `session-${session.id}`,
    params: {
      audioInEnabled: true,
      audioInSampleRate: 16_000,
      audioOutEnabled: true,
      audioOutSampleRate: 24_000,
      audioOut10msChunks: 4,
      audioOutMixer:
        ambienceVolume > 0
          ? new SoundfileMixer({ soundFiles: { ambience: ambiencePath }, volume: ambienceVolume })
          : undefined,
    },
  });
}

/** Options of {@link runEchoBot}. */
export interface EchoBotOptions {
  voice: EchoBotVoice;
  /** @default a SystemClock */
  clock?: Clock;
  logger?: Logger;
  /** Volume of the background ambience, 0–1; 0 leaves it out. @default 0.15 */
  ambienceVolume?: number;
  /** Called with the pipeline task once it exists (tests and metrics). */
  onTask?: (task: PipelineTask, transport: WebSocketTransport) => void;
}

/** Runs the echo bot on one WebSocket from the development server until the session ends. */
export async function runEchoBot(
  socket: WebSocket,
  session: DevSession,
  options: EchoBotOptions,
): Promise<TaskOutcome> {
  const { voice } = options;
  const ambienceVolume = options.ambienceVolume ?? 0.15;
  const transport = botTransport(socket, session, ambienceVolume);
  const rtvi = new RTVIProcessor();
  // 600 ms of silence ends a turn: short pauses inside a sentence do not cut it in two.
  const vad = new VADProcessor({ analyzer: new SileroVADAnalyzer({ params: { stopMs: 600 } }) });
  const task = new PipelineTask(
    new Pipeline([
      transport.input(),
      rtvi,
      vad,
      new UserTurnProcessor(),
      new EchoProcessor({ announcement: voice.announcement }),
      // Holds the greeting until the client says it is ready to play audio.
      new RTVIOutputGate(),
      transport.output(),
    ]),
    {
      observers: [rtvi.observer],
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
  options.onTask?.(task, transport);
  return runSessionTask(task, session);
}
