/**
 * The development server's page: the official Pipecat web client (client-js and its WebSocket
 * transport, bundled by scripts/build-client.mjs) wired to a few elements. See
 * docs/design/dev-server.md.
 */
import { PipecatClient, type TransportState } from "@pipecat-ai/client-js";
import { WavMediaManager, WebSocketTransport } from "@pipecat-ai/websocket-transport";
import { describeError } from "./describe-error.js";
import { meterTrack } from "./mic-level.js";
import { View } from "./view.js";

/** Longest wait for `POST /start`, in ms (the client's own request timeout). */
const START_TIMEOUT_MS = 10_000;
/** Longest wait for `bot-ready` after the socket opens, in ms: the client itself never gives up. */
const READY_TIMEOUT_MS = 15_000;
/** The microphone rate, in Hz: the transport labels its frames with this rate, so record at it too. */
const RECORDER_SAMPLE_RATE = 16_000;
/** Samples per microphone chunk handed to the transport. */
const RECORDER_CHUNK_SAMPLES = 512;

const view = new View();
let client: PipecatClient | undefined;
let stopMeter: (() => void) | undefined;

function newClient(): PipecatClient {
  // WavMediaManager keeps everything in the page; the default media manager would fetch Daily's
  // call machine from a CDN at run time. With no arguments it records at 24 kHz while the
  // transport labels frames 16 kHz, so both are given explicitly.
  const mediaManager = new WavMediaManager(RECORDER_CHUNK_SAMPLES, RECORDER_SAMPLE_RATE);
  const transport = new WebSocketTransport({ mediaManager, recorderSampleRate: RECORDER_SAMPLE_RATE });
  return new PipecatClient({
    transport,
    enableMic: true,
    enableCam: false,
    callbacks: {
      onTransportStateChanged: (state: TransportState) => {
        view.setState(state);
        view.event("transport-state", state);
      },
      onConnected: () => view.event("connected"),
      onDisconnected: () => {
        view.event("disconnected");
        endSession();
      },
      onBotReady: (data) => view.event("bot-ready", data),
      onError: (message) => view.showError(describeError(message)),
      onMessageError: (message) => view.showError(describeError(message)),
      onDeviceError: (error) => view.showError(`Microphone: ${error.details ?? error.type}`),
      onTrackStarted: (track, participant) => {
        if (participant?.local && track.kind === "audio") {
          stopMeter?.();
          stopMeter = meterTrack(track, (level) => view.setLevel(level));
        }
      },
      onUserStartedSpeaking: () => view.event("user-started-speaking"),
      onUserStoppedSpeaking: () => view.event("user-stopped-speaking"),
      onBotStartedSpeaking: () => view.event("bot-started-speaking"),
      onBotStoppedSpeaking: () => view.event("bot-stopped-speaking"),
      onUserMuteStarted: () => view.event("user-mute-started"),
      onUserMuteStopped: () => view.event("user-mute-stopped"),
      onUserTranscript: (data) => {
        view.userTranscript(data.text, data.final);
        view.event("user-transcription", data);
      },
      onBotOutput: (data) => {
        view.botTranscript(data.text);
        view.event("bot-output", data);
      },
      onBotLlmStarted: () => view.event("bot-llm-started"),
      onBotLlmStopped: () => view.event("bot-llm-stopped"),
      onBotTtsStarted: () => view.event("bot-tts-started"),
      onBotTtsStopped: () => view.event("bot-tts-stopped"),
      onLLMFunctionCallStarted: (data) => view.event("llm-function-call-started", data),
      onLLMFunctionCallStopped: (data) => view.event("llm-function-call-stopped", data),
      onServerMessage: (data: unknown) => view.event("server-message", data),
      onMetrics: (data) => view.event("metrics", data),
    },
  });
}

/** The token given to the page as `#token=…` (kept out of the URL the server sees). */
function startHeaders(): Headers {
  const headers = new Headers();
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) headers.set("Authorization", `Bearer ${token}`);
  return headers;
}

async function connect(): Promise<void> {
  view.clearError();
  view.setConnected(true);
  const current = newClient();
  client = current;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const notReady = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `The server did not answer client-ready with bot-ready within ${READY_TIMEOUT_MS / 1000} s; disconnected.`,
          ),
        ),
      READY_TIMEOUT_MS,
    );
  });
  try {
    const ready = current.startBotAndConnect({
      endpoint: "/start",
      headers: startHeaders(),
      timeout: START_TIMEOUT_MS,
    });
    await Promise.race([ready, notReady]);
    view.event("connect-resolved");
  } catch (error) {
    view.showError(describeError(error));
    // After a fatal error the client has already disconnected itself; a second disconnect throws
    // inside it (the recorder's stream is gone).
    if (current.connected || current.state === "connecting" || current.state === "ready") {
      await current.disconnect().catch(() => undefined);
    }
    endSession();
  } finally {
    clearTimeout(timer);
  }
}

function endSession(): void {
  stopMeter?.();
  stopMeter = undefined;
  client = undefined;
  view.setConnected(false);
}

view.connect.addEventListener("click", () => void connect());
view.disconnect.addEventListener("click", () => {
  view.event("disconnect-clicked");
  void client?.disconnect().catch((error: unknown) => view.showError(describeError(error)));
});
view.setState("disconnected");
