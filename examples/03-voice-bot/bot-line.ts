/**
 * The two ends a bot's pipeline sits between, for one development-server session: a browser page
 * (the official Pipecat web client: protobuf frames, RTVI, 16 kHz in and 24 kHz out) or a phone
 * call (a telephony provider's media stream on `/telephony/<provider>/ws`: the provider's
 * serializer and rates, no RTVI). Both bots build their own middle and take the ends from here,
 * so a caller talks to the same bot as the page.
 *
 *   page:  input ─▶ RTVI ─▶ …bot… ─▶ RTVI output gate ─▶ output (24 kHz, 40 ms frames, ambience)
 *   phone: input ─▶ …bot… ─▶ output (the stream's rate, 20 ms packets, ambience)
 */
import { fileURLToPath } from "node:url";
import type { WebSocket } from "ws";
import {
  type Clock,
  type DevSession,
  type FrameProcessor,
  type Observer,
  type PipelineParams,
  type PipelineTask,
  SoundfileMixer,
  type TaskOutcome,
  WebSocketTransport,
  runSessionTask,
} from "../../src/index.js";
import { RTVIOutputGate, RTVIProcessor } from "../../src/processors/rtvi/index.js";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";
import {
  type CallControl,
  PlivoCallControl,
  type TelephonyCall,
  type TelephonyProvider,
  TelnyxCallControl,
  TwilioCallControl,
  VonageCallControl,
  answerCall,
  runCall,
} from "../../src/telephony/index.js";

/** The background ambience both bots play under everything (a WAV in `examples/assets`). */
export const ambiencePath = fileURLToPath(new URL("../assets/ambience.wav", import.meta.url));

/** The ends of one session's pipeline: the transport, and what the kind of client needs around the bot. */
export interface BotLine {
  /** The call, when the session is a phone call; undefined for a browser page. */
  readonly call: TelephonyCall | undefined;
  readonly transport: WebSocketTransport;
  /** The pipeline's rates, for the task's `params`: the page's 16/24 kHz, or the stream's own. */
  readonly params: Pick<PipelineParams, "audioInSampleRate" | "audioOutSampleRate">;
  /** Observers the task needs (the RTVI observer, for a page). */
  readonly observers: Observer[];
  /** What the session is, for logs: "browser", "twilio call CA…". */
  readonly description: string;
  /**
   * The whole pipeline around `bot`: the input, RTVI (a page), the bot, the RTVI output gate (a
   * page: it holds the greeting until the client has said `client-ready`), the output, then
   * `after` (processors that see only what was played, such as the assistant aggregator).
   */
  processors(bot: readonly FrameProcessor[], after?: readonly FrameProcessor[]): FrameProcessor[];
  /** Runs `task` for the session until it ends; resolves with its outcome, never rejects. */
  run(task: PipelineTask, session: DevSession): Promise<TaskOutcome>;
}

/** Options of {@link openBotLine}. */
export interface BotLineOptions {
  /** Volume of the background ambience, 0–1; 0 leaves it out. */
  ambienceVolume: number;
  /** Clock of the call's start deadline (a provider gets 10 s to say what the call is). @default a SystemClock */
  clock?: Clock;
  /**
   * Hangs up a call through the provider's API when the bot ends it. @default the provider's
   * control when the environment has its credentials (see {@link callControlFromEnv}), else none
   */
  callControl?: CallControl;
}

/** Environment variables that make `callControlFromEnv` build a provider's call control. */
const CONTROL_ENV: Partial<Record<TelephonyProvider, readonly string[]>> = {
  twilio: ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"],
  telnyx: ["TELNYX_API_KEY"],
  plivo: ["PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"],
  vonage: ["VONAGE_APPLICATION_ID", "VONAGE_PRIVATE_KEY"],
};
const controls = new Map<TelephonyProvider, CallControl | undefined>();

/**
 * The provider's call control when the environment has its credentials (Twilio
 * `TWILIO_ACCOUNT_SID` + `TWILIO_AUTH_TOKEN`, Telnyx `TELNYX_API_KEY`, Plivo `PLIVO_AUTH_ID` +
 * `PLIVO_AUTH_TOKEN`, Vonage `VONAGE_APPLICATION_ID` + `VONAGE_PRIVATE_KEY`), made once per
 * process; else undefined (Exotel has none). Credentials that are set but malformed throw, naming
 * the variable.
 */
export function callControlFromEnv(
  provider: TelephonyProvider,
  env: NodeJS.ProcessEnv = process.env,
): CallControl | undefined {
  if (controls.has(provider)) return controls.get(provider);
  const needed = CONTROL_ENV[provider];
  let control: CallControl | undefined;
  if (needed && needed.every((name) => env[name])) {
    if (provider === "twilio") control = new TwilioCallControl({ env });
    else if (provider === "telnyx") control = new TelnyxCallControl({ env });
    else if (provider === "plivo") control = new PlivoCallControl({ env });
    else if (provider === "vonage") control = new VonageCallControl({ env });
  }
  controls.set(provider, control);
  return control;
}

/**
 * The line of `session`: a phone call when the development server says the socket is a provider's
 * media stream (`session.telephony`), else a browser page. For a call, reads the stream's first
 * messages (`answerCall`); rejects with `CallStartError` when the provider never says what the
 * call is (the socket is closed).
 */
export async function openBotLine(
  socket: WebSocket,
  session: DevSession,
  options: BotLineOptions,
): Promise<BotLine> {
  return session.telephony
    ? phoneLine(socket, session, session.telephony, options)
    : browserLine(socket, session, options);
}

/**
 * A page with the official web client: the protobuf wire format, 16 kHz microphone audio in, and
 * out what the client plays whatever a frame says (24 kHz mono), in 40 ms frames: half the writes
 * of 20 ms ones (about a fifth of the CPU of a session) for at most 20 ms more audio sent ahead of
 * a barge-in (bench/websocket-sessions.ts).
 */
function browserLine(socket: WebSocket, session: DevSession, options: BotLineOptions): BotLine {
  const transport = new WebSocketTransport(socket, {
    serializer: new ProtobufFrameSerializer(),
    name: `session-${session.id}`,
    params: {
      audioInEnabled: true,
      audioInSampleRate: 16_000,
      audioOutEnabled: true,
      audioOutSampleRate: 24_000,
      audioOut10msChunks: 4,
      audioOutMixer: ambience(options.ambienceVolume),
    },
  });
  const rtvi = new RTVIProcessor();
  return {
    call: undefined,
    transport,
    params: { audioInSampleRate: 16_000, audioOutSampleRate: 24_000 },
    observers: [rtvi.observer],
    description: "browser",
    processors: (bot, after = []) => [
      transport.input(),
      rtvi,
      ...bot,
      new RTVIOutputGate(),
      transport.output(),
      ...after,
    ],
    run: (task, s) => runSessionTask(task, s),
  };
}

/**
 * A phone call: the provider's serializer, audio in and out at the stream's rates in 20 ms packets
 * (answerCall's transport), and the pipeline at the stream's rates too: 8 kHz audio is not
 * upsampled to be analysed (Silero VAD runs at 8 and 16 kHz), and what the bot says is made at the
 * rate the caller hears. No RTVI: a phone has no client to speak it, so nothing waits for a
 * `client-ready` and the greeting plays as soon as the pipeline runs.
 */
async function phoneLine(
  socket: WebSocket,
  session: DevSession,
  provider: TelephonyProvider,
  options: BotLineOptions,
): Promise<BotLine> {
  // The stream's URL may choose its rate (Exotel's ?sample-rate=): the call is read and answered at it.
  const answered = await answerCall(socket, provider, {
    ...(session.telephonyStream ? { stream: session.telephonyStream } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const { call, serializer } = answered;
  const control = options.callControl ?? callControlFromEnv(provider);
  const transport = answered.transport({
    name: `session-${session.id}-${provider}`,
    params: { audioOutMixer: ambience(options.ambienceVolume) },
  });
  const inRate = call.inbound.sampleRate;
  return {
    call,
    transport,
    params: {
      // A stream at a rate the VAD cannot take (Exotel's 24 kHz) is analysed at 16 kHz.
      audioInSampleRate: inRate === 8000 || inRate === 16_000 ? inRate : 16_000,
      audioOutSampleRate: serializer.outbound.sampleRate,
    },
    observers: [],
    description: `${provider} call ${call.callId || "(no call id)"}`,
    processors: (bot, after = []) => [transport.input(), ...bot, transport.output(), ...after],
    // When the bot ends the call (not the caller), it is hung up through the provider's API if
    // the environment has the credentials; else closing the socket ends it (docs/design/telephony.md).
    run: async (task, s) => (await runCall(task, s, answered, control ? { control } : {})).outcome,
  };
}

/** The background ambience at `volume` (0: none); the mixer resamples it to the output's rate. */
function ambience(volume: number): SoundfileMixer | undefined {
  return volume > 0 ? new SoundfileMixer({ soundFiles: { ambience: ambiencePath }, volume }) : undefined;
}
