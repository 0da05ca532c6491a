/**
 * Load generator of `bench/websocket-sessions.ts`, run as its own process (forked with an IPC
 * channel) so that its CPU is not the server's. It opens loopback WebSocket clients that talk to
 * the echo bot the way the official web client does: each sends RTVI `client-ready` as soon as
 * its socket opens and streams 16 kHz mono audio in real time (256-sample protobuf frames every
 * 16 ms), looping a speech fixture followed by silence, so Silero hears turns and the bot echoes
 * them. It counts the bot's audio each client receives.
 *
 * All clients send from ONE timer, each on its own drift-free schedule (frame k at its phase +
 * k × 16 ms): real browsers are not in step, so by default the phases are spread over the 16 ms
 * (the timer wakes every 2 ms); `WS_BENCH_IN_STEP=1` puts every client on the same phase, the
 * worst case, where every session's audio arrives in the same millisecond. A late tick sends
 * every frame due since the last one, as a browser hands over audio it captured while its page
 * was busy.
 *
 * `WS_BENCH_TELEPHONY=twilio`: the clients are phone calls instead, speaking Twilio's media stream
 * (`connected`, `start`, then 20 ms of 8 kHz μ-law a message) to the `/telephony/twilio/ws` URL the
 * parent gives; a call counts as ready at the bot's first audio (its greeting), and the bot's audio
 * is counted in μ-law samples (8,000 a second is real time).
 *
 * Messages from the parent (`ParentMessage`) and replies (`ChildMessage`) are defined below.
 */
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { WebSocket } from "ws";
import { readWavFile } from "../../src/audio/wav.js";
import { InputAudioRawFrame, OutputAudioRawFrame } from "../../src/frames/audio.js";
import {
  InputTransportMessageFrame,
  OutputTransportMessageFrame,
} from "../../src/frames/transport-messages.js";
import { RTVI_LABEL, RTVI_PROTOCOL_VERSION } from "../../src/processors/rtvi/protocol.js";
import { encodeUlaw } from "../../src/audio/g711.js";
import { resampleOnce } from "../../src/audio/resampler.js";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";

/** What the parent asks. */
export type ParentMessage =
  /**
   * Open clients until `total` are open, spread evenly over `rampMs`; each one first POSTs
   * `startUrl` and connects to the `wsUrl` it answers, as the official client does.
   */
  | { type: "grow"; startUrl: string; total: number; rampMs: number }
  /** Start counting received audio afresh (and the generator's own CPU). */
  | { type: "window-start" }
  /** Report what was counted since `window-start`. */
  | { type: "window-end" }
  /** Close every client and exit. */
  | { type: "stop" };

/** What the generator answers. */
export type ChildMessage =
  | { type: "ready"; patternMs: number }
  /** Every client asked for so far has its `bot-ready` (or failed). */
  | { type: "grown"; open: number; botReady: number; failed: number; firstError?: string }
  | { type: "window"; report: WindowReport };

/** What the clients saw over one measurement window. */
export interface WindowReport {
  seconds: number;
  clients: number;
  /** Clients whose socket closed (or failed) during the window. */
  closed: number;
  /** Received bot audio per client, samples per second of the window, sorted ascending. */
  receivedRates: number[];
  /** Received audio frames whose rate was not 24 kHz mono. */
  otherFormatFrames: number;
  /** Audio frames sent by all clients over the window. */
  framesSent: number;
  userStartedSpeaking: number;
  botStartedSpeaking: number;
  botInterrupted: number;
  /** The generator's own CPU (user + system) over the window, % of one core. */
  cpuPercent: number;
  /** Largest `bufferedAmount` seen on a client socket (bytes not yet handed to the kernel). */
  maxBufferedBytes: number;
}

const FIXTURE = fileURLToPath(new URL("../../test/fixtures/vad-espeak.wav", import.meta.url));
/** Phone calls (Twilio's stream) instead of browser clients. */
const PHONE = process.env.WS_BENCH_TELEPHONY === "twilio";
const FIXTURE_RATE = 16_000;
const IN_RATE = PHONE ? 8000 : 16_000;
const FRAME_SAMPLES = PHONE ? 160 : 256;
const FRAME_MS = (FRAME_SAMPLES / IN_RATE) * 1000; // 16 ms (browser), 20 ms (phone)
const OUT_RATE = PHONE ? 8000 : 24_000;
const STREAM_SID = "MZ00000000000000000000000000000001";
/** Silence after the fixture (6.75 s, speech at 1.0–3.7 s and later): time for the echo to play. */
const SILENCE_AFTER_MS = 4_000;
/** Bound of one catch-up: a tick never sends more than this many frames per client. */
const MAX_CATCH_UP_FRAMES = 50;
/** Every client on one phase (the worst case) instead of phases spread over the frame. */
const IN_STEP = process.env.WS_BENCH_IN_STEP === "1";
/** How often the timer wakes when the phases are spread, ms. */
const WAKE_MS = 2;
/** How long a client may take from `grow` to `bot-ready`. */
const READY_DEADLINE_MS = 60_000;

interface Client {
  socket: WebSocket;
  /** Index of the next pattern frame this client sends. */
  patternIndex: number;
  /** Global tick from which this client streams. */
  startTick: number;
  /** Offset of this client's schedule, ms (0 with WS_BENCH_IN_STEP=1). */
  phaseMs: number;
  /** Frames sent so far (compared with the ticks elapsed since `startTick`). */
  sent: number;
  open: boolean;
  closed: boolean;
  botReady: boolean;
  receivedSamples: number;
}

const serializer = new ProtobufFrameSerializer({ sendFrameIds: false });

/** The looped microphone signal, pre-encoded once: every client sends the same buffers. */
async function loadPattern(): Promise<Array<Uint8Array | string>> {
  const wav = await readWavFile(FIXTURE);
  if (wav.sampleRate !== FIXTURE_RATE)
    throw new Error(`${FIXTURE}: expected ${FIXTURE_RATE} Hz, got ${wav.sampleRate}`);
  const audio = PHONE ? await resampleOnce(wav.audio, FIXTURE_RATE, IN_RATE) : wav.audio;
  const silence = Math.round((SILENCE_AFTER_MS / 1000) * IN_RATE);
  const length = Math.ceil((audio.length + silence) / FRAME_SAMPLES) * FRAME_SAMPLES;
  const pattern = new Int16Array(length);
  pattern.set(audio);
  const frames: Array<Uint8Array | string> = [];
  for (let i = 0; i < length; i += FRAME_SAMPLES) {
    if (PHONE) {
      const payload = Buffer.from(encodeUlaw(pattern.subarray(i, i + FRAME_SAMPLES))).toString("base64");
      frames.push(
        JSON.stringify({ event: "media", streamSid: STREAM_SID, media: { track: "inbound", payload } }),
      );
      continue;
    }
    const bytes = serializer.serialize(
      new OutputAudioRawFrame(pattern.slice(i, i + FRAME_SAMPLES), IN_RATE, 1),
    );
    if (!bytes) throw new Error("the serializer wrote nothing for an audio frame");
    frames.push(bytes);
  }
  return frames;
}

const pattern = await loadPattern();
const clients: Client[] = [];
const t0 = performance.now();
let tick = 0;
let timer: NodeJS.Timeout | undefined;
let framesSent = 0;
let maxBufferedBytes = 0;
let counts = { userStartedSpeaking: 0, botStartedSpeaking: 0, botInterrupted: 0, otherFormatFrames: 0 };
let firstError: string | undefined;
let windowStart: { at: number; cpu: NodeJS.CpuUsage; closed: number } | undefined;

function send(message: ChildMessage): void {
  process.send?.(message);
}

/** One tick: every open client sends the frames due since its last send, then the next tick is armed. */
function onTick(): void {
  const now = performance.now();
  for (const c of clients) {
    if (!c.open) continue;
    const due = Math.floor((now - t0 - c.phaseMs) / FRAME_MS);
    const owed = Math.min(MAX_CATCH_UP_FRAMES, due - c.startTick + 1 - c.sent);
    for (let i = 0; i < owed; i++) {
      c.socket.send(pattern[c.patternIndex]!);
      c.patternIndex = (c.patternIndex + 1) % pattern.length;
      c.sent++;
      framesSent++;
    }
    // Frames the cap skipped are skipped for good: the schedule stays the wall clock's.
    if (owed === MAX_CATCH_UP_FRAMES) c.sent = due - c.startTick + 1;
    if (c.socket.bufferedAmount > maxBufferedBytes) maxBufferedBytes = c.socket.bufferedAmount;
  }
  const slot = IN_STEP ? FRAME_MS : WAKE_MS;
  tick = Math.floor((now - t0) / slot) + 1;
  timer = setTimeout(onTick, Math.max(0, t0 + tick * slot - performance.now()));
}

function onMessage(c: Client, data: Buffer): void {
  if (PHONE) return onPhoneMessage(c, data);
  const result = serializer.deserialize(data);
  if (!result.ok) {
    firstError ??= `a message from the server is not a frame: ${result.error.message}`;
    return;
  }
  for (const frame of result.frames) {
    if (frame instanceof InputAudioRawFrame) {
      if (frame.sampleRate !== OUT_RATE || frame.numChannels !== 1) counts.otherFormatFrames++;
      c.receivedSamples += frame.audio.length / frame.numChannels;
    } else if (frame instanceof InputTransportMessageFrame) {
      const type = (frame.message as { type?: unknown }).type;
      if (type === "bot-ready") c.botReady = true;
      else if (type === "user-started-speaking") counts.userStartedSpeaking++;
      else if (type === "bot-started-speaking") counts.botStartedSpeaking++;
      else if (type === "bot-interrupted") counts.botInterrupted++;
    }
  }
}

/** A message of Twilio's stream from the bot: media (its μ-law bytes are samples) or clear. */
function onPhoneMessage(c: Client, data: Buffer): void {
  let message: { event?: string; media?: { payload?: string } };
  try {
    message = JSON.parse(data.toString("utf8")) as typeof message;
  } catch {
    firstError ??= "a message from the server is not JSON";
    return;
  }
  if (message.event === "media") {
    c.botReady = true;
    // base64: 4 characters carry 3 bytes, one μ-law sample each.
    const b64 = message.media?.payload ?? "";
    c.receivedSamples += (b64.length / 4) * 3 - (b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0);
  } else if (message.event === "clear") {
    counts.botInterrupted++;
  } else {
    counts.otherFormatFrames++;
  }
}

async function openClient(startUrl: string, id: number): Promise<void> {
  let url: string;
  if (PHONE) url = startUrl;
  else
    try {
      const reply = await fetch(startUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
      });
      url = ((await reply.json()) as { wsUrl: string }).wsUrl;
    } catch (error) {
      firstError ??= `client ${id}: POST /start failed: ${(error as Error).message}`;
      url = "ws://127.0.0.1:9/unreachable";
    }
  const socket = new WebSocket(url, { perMessageDeflate: false });
  const c: Client = {
    socket,
    // Spread the clients over the pattern, so their turns do not all fall on the same ticks.
    patternIndex: Math.floor(Math.random() * pattern.length),
    startTick: 0,
    phaseMs: IN_STEP ? 0 : (clients.length * 5.3) % FRAME_MS,
    sent: 0,
    open: false,
    closed: false,
    botReady: false,
    receivedSamples: 0,
  };
  clients.push(c);
  socket.on("open", () => {
    c.open = true;
    c.startTick = Math.floor((performance.now() - t0 - c.phaseMs) / FRAME_MS);
    if (PHONE) {
      socket.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
      socket.send(
        JSON.stringify({
          event: "start",
          sequenceNumber: "1",
          streamSid: STREAM_SID,
          start: {
            streamSid: STREAM_SID,
            accountSid: "AC00000000000000000000000000000001",
            callSid: `CA${String(id).padStart(32, "0")}`,
            tracks: ["inbound"],
            customParameters: {},
            mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
          },
        }),
      );
      return;
    }
    const ready = serializer.serialize(
      new OutputTransportMessageFrame({
        label: RTVI_LABEL,
        type: "client-ready",
        id: `ready-${id}`,
        data: { version: RTVI_PROTOCOL_VERSION, about: { library: "voicepipe-bench", library_version: "0" } },
      }),
    );
    socket.send(ready!);
  });
  socket.on("message", (data: Buffer) => onMessage(c, data));
  socket.on("error", (error) => {
    firstError ??= `client ${id}: ${error.message}`;
  });
  socket.on("close", () => {
    c.open = false;
    c.closed = true;
  });
}

async function grow(startUrl: string, total: number, rampMs: number): Promise<void> {
  const adding = total - clients.length;
  const from = clients.length;
  for (let i = 0; i < adding; i++) {
    await openClient(startUrl, from + i + 1);
    if (i < adding - 1) await new Promise((r) => setTimeout(r, rampMs / adding));
  }
  const deadline = performance.now() + READY_DEADLINE_MS;
  while (performance.now() < deadline && clients.some((c) => !c.botReady && !c.closed))
    await new Promise((r) => setTimeout(r, 100));
  send({
    type: "grown",
    open: clients.filter((c) => c.open).length,
    botReady: clients.filter((c) => c.botReady).length,
    failed: clients.filter((c) => c.closed || !c.botReady).length,
    ...(firstError ? { firstError } : {}),
  });
}

function windowReport(): WindowReport {
  const start = windowStart ?? { at: t0, cpu: { user: 0, system: 0 }, closed: 0 };
  const seconds = (performance.now() - start.at) / 1000;
  const cpu = process.cpuUsage(start.cpu);
  return {
    seconds,
    clients: clients.length,
    closed: clients.filter((c) => c.closed).length - start.closed,
    receivedRates: clients.map((c) => c.receivedSamples / seconds).sort((a, b) => a - b),
    framesSent,
    ...counts,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
    maxBufferedBytes,
  };
}

process.on("message", (message: ParentMessage) => {
  switch (message.type) {
    case "grow":
      void grow(message.startUrl, message.total, message.rampMs);
      break;
    case "window-start":
      for (const c of clients) c.receivedSamples = 0;
      framesSent = 0;
      maxBufferedBytes = 0;
      counts = { userStartedSpeaking: 0, botStartedSpeaking: 0, botInterrupted: 0, otherFormatFrames: 0 };
      windowStart = {
        at: performance.now(),
        cpu: process.cpuUsage(),
        closed: clients.filter((c) => c.closed).length,
      };
      break;
    case "window-end":
      send({ type: "window", report: windowReport() });
      break;
    case "stop":
      if (timer) clearTimeout(timer);
      for (const c of clients) c.socket.terminate();
      process.disconnect?.();
      break;
  }
});

onTick();
send({ type: "ready", patternMs: pattern.length * FRAME_MS });
