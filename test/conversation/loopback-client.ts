import { performance } from "node:perf_hooks";
import { WebSocket } from "ws";
import { InputAudioRawFrame, OutputAudioRawFrame } from "../../src/frames/audio.js";
import {
  InputTransportMessageFrame,
  OutputTransportMessageFrame,
} from "../../src/frames/transport-messages.js";
import { RTVI_LABEL, RTVI_PROTOCOL_VERSION } from "../../src/processors/rtvi/protocol.js";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";
import { postStart } from "../runner/http.js";

/** Microphone rate and frame of the official web client: 16 kHz mono, 256 samples (16 ms) a message. */
export const MIC_RATE = 16_000;
const FRAME_SAMPLES = 256;
const FRAME_MS = (FRAME_SAMPLES / MIC_RATE) * 1000;

/** One audio message the client received. */
export interface ReceivedAudio {
  /** `performance.now()` at arrival. */
  readonly atMs: number;
  readonly samples: Int16Array;
  readonly sampleRate: number;
  readonly numChannels: number;
}

/** One RTVI message the client received. */
export interface ReceivedMessage {
  readonly atMs: number;
  readonly type: string;
  readonly data: unknown;
}

/**
 * A loopback client that speaks the official web client's protocol: `POST /start`, the socket
 * from its `wsUrl`, RTVI `client-ready` as soon as the socket opens, and a microphone streamed in
 * real time as protobuf audio frames (16 kHz mono, 256 samples every 16 ms on a drift-free
 * schedule; a late timer sends every frame due since). The microphone sends silence until the
 * test `speak`s. Everything received is decoded and kept, with its arrival time.
 */
export class LoopbackClient {
  readonly audio: ReceivedAudio[] = [];
  readonly messages: ReceivedMessage[] = [];
  /** Errors (undecodable messages, socket errors). */
  readonly errors: string[] = [];
  /** Resolves with `performance.now()` when the socket has closed (either side). */
  readonly closed: Promise<number>;
  readonly #serializer = new ProtobufFrameSerializer({ sendFrameIds: false });
  readonly #socket: WebSocket;
  /** Samples queued for the microphone, sent before silence. */
  #queue: Int16Array[] = [];
  /** Resolved with `performance.now()` when the queue's last sample has been sent. */
  #drained: Array<(atMs: number) => void> = [];
  #offset = 0;
  #sent = 0;
  #t0 = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #silence = new Int16Array(FRAME_SAMPLES);

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on("message", (data: Buffer) => this.#onMessage(data));
    socket.on("error", (e) => this.errors.push(`socket: ${e.message}`));
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.#closed = true;
        if (this.#timer) clearTimeout(this.#timer);
        resolve(performance.now());
      }),
    );
  }

  /** `POST /start` on `serverUrl`, then the socket; resolves once it is open and `client-ready` is sent. */
  static async connect(serverUrl: string): Promise<LoopbackClient> {
    const reply = await postStart(serverUrl);
    if (reply.status !== 200) throw new Error(`POST /start answered ${reply.status}: ${reply.body}`);
    const { wsUrl } = reply.json() as { wsUrl: string };
    const socket = new WebSocket(wsUrl, { perMessageDeflate: false });
    const client = new LoopbackClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    client.#send(
      new OutputTransportMessageFrame({
        label: RTVI_LABEL,
        type: "client-ready",
        id: "ready-1",
        data: { version: RTVI_PROTOCOL_VERSION, about: { library: "voicepipe-test", library_version: "0" } },
      }),
    );
    client.#t0 = performance.now();
    client.#tick();
    return client;
  }

  /**
   * Queues `samples` (16 kHz mono) on the microphone; resolves with `performance.now()` at the
   * moment the last of them was sent.
   */
  speak(samples: Int16Array): Promise<number> {
    this.#queue.push(samples);
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** RTVI messages of `type` received so far. */
  received(type: string): ReceivedMessage[] {
    return this.messages.filter((m) => m.type === type);
  }

  /** Waits (real time) until a message of `type` arrived after `afterMs`; returns it. */
  async waitFor(type: string, afterMs = 0, timeoutMs = 10_000): Promise<ReceivedMessage> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = this.messages.find((x) => x.type === type && x.atMs > afterMs);
      if (m) return m;
      if (performance.now() > deadline || this.#closed) {
        const seen = this.messages.map((x) => x.type).join(", ");
        throw new Error(
          `no "${type}" message within ${timeoutMs} ms (received: ${seen}; errors: ${this.errors.join("; ")})`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#closed = true;
    this.#socket.close();
  }

  #tick(): void {
    if (this.#closed) return;
    const due = Math.floor((performance.now() - this.#t0) / FRAME_MS) + 1;
    // A late tick sends every frame due since (at most a second's worth).
    for (let n = Math.min(due - this.#sent, 64); n > 0; n--) this.#sendFrame();
    this.#sent = Math.max(this.#sent, due);
    this.#timer = setTimeout(
      () => this.#tick(),
      Math.max(0, this.#t0 + this.#sent * FRAME_MS - performance.now()),
    );
  }

  #sendFrame(): void {
    const frame = new Int16Array(FRAME_SAMPLES);
    let filled = 0;
    while (filled < FRAME_SAMPLES && this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const take = Math.min(FRAME_SAMPLES - filled, head.length - this.#offset);
      frame.set(head.subarray(this.#offset, this.#offset + take), filled);
      filled += take;
      this.#offset += take;
      if (this.#offset >= head.length) {
        this.#queue.shift();
        this.#offset = 0;
      }
    }
    this.#send(new OutputAudioRawFrame(filled > 0 ? frame : this.#silence, MIC_RATE, 1));
    if (filled > 0 && this.#queue.length === 0) {
      const now = performance.now();
      for (const resolve of this.#drained.splice(0)) resolve(now);
    }
  }

  #send(frame: OutputAudioRawFrame | OutputTransportMessageFrame): void {
    const bytes = this.#serializer.serialize(frame);
    if (bytes && this.#socket.readyState === WebSocket.OPEN) this.#socket.send(bytes);
  }

  #onMessage(data: Buffer): void {
    const atMs = performance.now();
    const result = this.#serializer.deserialize(data);
    if (!result.ok) {
      this.errors.push(`not a frame: ${result.error.message}`);
      return;
    }
    for (const frame of result.frames) {
      if (frame instanceof InputAudioRawFrame) {
        this.audio.push({
          atMs,
          samples: frame.audio,
          sampleRate: frame.sampleRate,
          numChannels: frame.numChannels,
        });
      } else if (frame instanceof InputTransportMessageFrame) {
        const m = frame.message as { type?: unknown; data?: unknown };
        if (typeof m.type === "string") this.messages.push({ atMs, type: m.type, data: m.data });
      }
    }
  }
}
