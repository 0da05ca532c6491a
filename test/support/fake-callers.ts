/**
 * A phone call, simulated: a Node `ws` client that speaks one telephony provider's media stream
 * the way the provider does (test/support/callers/: Twilio, Telnyx, Plivo, Exotel, Vonage). It
 * opens the stream with the provider's first messages, sends the caller's audio at real-time
 * pace in the provider's format and frame size (silence between utterances, as providers do),
 * presses keys, hangs up the provider's way (`stop`, or closing the socket), and records what the
 * bot sends: decoded audio with its size and arrival time, clears, marks, and anything the
 * provider would reject. It answers clears and marks as the provider does, from a model of the
 * provider's playback buffer.
 */
import { performance } from "node:perf_hooks";
import { WebSocket } from "ws";
import type { TelephonyProvider } from "../../src/serializers/telephony/telephony-serializer.js";
import {
  CALLER_WIRES,
  type CallIds,
  type CallerFormat,
  type CallerWire,
  type WireMessage,
  decodeAudio,
  encodeAudio,
  formatBytes,
} from "./callers/index.js";

export { CALLER_WIRES, type CallerFormat, type CallerWire } from "./callers/index.js";

/** Options of {@link FakeCaller.dial}. */
export interface DialOptions {
  /** Ids and numbers of the call. @default made-up ids per provider */
  ids?: Partial<CallIds>;
  /** The format the first messages declare. @default the provider's default (`wire.inbound`) */
  declare?: CallerFormat;
  /** Replaces the start message's whole media-format field with this raw value. */
  declareRaw?: unknown;
  /** The format the caller's audio is actually sent in. @default the declared one */
  send?: CallerFormat;
  /** Length of one media message, in ms. @default 20 */
  frameMs?: number;
  /**
   * The format the provider plays the bot's audio in. @default the provider's (`wire.outbound`);
   * Exotel's `?sample-rate=` changes it along with what the start declares
   */
  outbound?: CallerFormat;
}

/** One audio message the bot sent, as the provider decoded it. */
export interface HeardAudio {
  /** `performance.now()` at arrival. */
  readonly atMs: number;
  /** The message's audio bytes (in the provider's outbound encoding). */
  readonly bytes: number;
  readonly samples: Int16Array;
  /** The rate of `samples` (the provider's outbound rate). */
  readonly sampleRate: number;
}

/** How the call's socket ended. */
export interface CallEnd {
  /** `performance.now()` when the socket closed. */
  readonly atMs: number;
  readonly code: number;
  readonly reason: string;
  /** Who started the close: the bot's server (a close frame came first) or the caller. */
  readonly by: "server" | "caller";
}

/** When an utterance went out: `performance.now()` at its first and its last message. */
export interface Spoken {
  readonly startMs: number;
  readonly endMs: number;
}

const DEFAULT_IDS: Record<TelephonyProvider, CallIds> = {
  twilio: ids("CA0000000000000000000000000000001", "MZ0000000000000000000000000000001", "AC0001"),
  telnyx: ids("v3:call-control-1", "7c2a8e1d-0000-4000-8000-000000000001", "user-1"),
  plivo: ids("6a1f0000-0000-4000-8000-000000000001", "b77e0000-0000-4000-8000-000000000001", "MA0001"),
  exotel: ids("c0000000000000000000000000000001", "s0000000000000000000000000000001", "exotel-account"),
  vonage: ids("aaaaaaaa-0000-4000-8000-000000000001", "", "vonage-app"),
};

function ids(callId: string, streamId: string, accountId: string): CallIds {
  return {
    callId,
    streamId,
    accountId,
    from: "+15550100001",
    to: "+15550100002",
    customParameters: { campaign: "test" },
  };
}

/** A simulated phone call to a bot's media-stream socket. */
export class FakeCaller {
  readonly provider: TelephonyProvider;
  readonly wire: CallerWire;
  readonly ids: CallIds;
  /** What the caller's audio is sent as. */
  readonly sendFormat: CallerFormat;
  /** What the bot's audio is played as. */
  readonly outbound: CallerFormat;
  /** Audio messages from the bot, decoded in {@link outbound}. */
  readonly audio: HeardAudio[] = [];
  /** `performance.now()` of each clear message from the bot. */
  readonly clears: number[] = [];
  /** Marks (Plivo checkpoints, Vonage notifies) from the bot. */
  readonly marks: { atMs: number; name: string }[] = [];
  /** Every message from the bot: arrival time, size, type. */
  readonly messages: { atMs: number; bytes: number; binary: boolean; kind: string }[] = [];
  /** What the provider would reject or ignore (wrong stream id, binary where text is due, …). */
  readonly violations: string[] = [];
  /** Media messages sent. */
  mediaSent = 0;
  /** The most audio the provider held unplayed at once, in ms (the bot sending ahead of real time). */
  maxBufferedMs = 0;
  /** Resolves when the socket has closed. */
  readonly ended: Promise<CallEnd>;
  readonly #socket: WebSocket;
  readonly #frameMs: number;
  readonly #frameBytes: number;
  readonly #silence: Uint8Array;
  #seq = 1;
  #t0 = 0;
  #timer: NodeJS.Timeout | undefined;
  #queue: Uint8Array[] = [];
  #queueAt = 0;
  #drained: Array<() => void> = [];
  #spokeAt: number | undefined;
  /** Hung up or dropped: media never resumes. */
  #hungUp = false;
  #closeBy: "server" | "caller" | undefined;
  /** When the provider's playback buffer runs dry (`performance.now()`), and the marks waiting on it. */
  #playEnd = 0;
  #pendingMarks: { dueMs: number; name: string }[] = [];

  /** Sizes of the bot's audio messages the provider does not take (its `wire.packets`: 20 ms exactly; Exotel n × 320 bytes, 3,200–100,000). */
  badPacketSizes(): number[] {
    const rule = this.wire.packets;
    return this.audio
      .map((a) => a.bytes)
      .filter((bytes) =>
        "exactBytes" in rule
          ? bytes !== rule.exactBytes
          : bytes % rule.multipleOf !== 0 || bytes < rule.minBytes || bytes > rule.maxBytes,
      );
  }

  private constructor(socket: WebSocket, provider: TelephonyProvider, options: DialOptions) {
    this.#socket = socket;
    this.provider = provider;
    this.wire = CALLER_WIRES[provider];
    this.ids = { ...DEFAULT_IDS[provider], ...options.ids };
    this.sendFormat = options.send ?? options.declare ?? this.wire.inbound;
    this.outbound = options.outbound ?? this.wire.outbound;
    this.#frameMs = options.frameMs ?? 20;
    this.#frameBytes = formatBytes(this.sendFormat, this.#frameMs);
    this.#silence = encodeAudio(
      new Int16Array(this.#frameBytes / (this.sendFormat.encoding === "l16" ? 2 : 1)),
      this.sendFormat.encoding,
    );
    socket.on("message", (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    socket.on("error", (error) => this.violations.push(`socket error: ${error.message}`));
    this.ended = new Promise((resolve) => {
      socket.once("close", (code: number, reason: Buffer) => {
        this.#stopTimer();
        resolve({ atMs: performance.now(), code, reason: reason.toString(), by: this.#closeBy ?? "server" });
      });
    });
  }

  /**
   * Opens a stream to `url` as `provider` would: the socket, then the provider's first messages,
   * then media every `frameMs` (silence until the caller speaks).
   */
  static async dial(
    url: string,
    provider: TelephonyProvider,
    options: DialOptions = {},
  ): Promise<FakeCaller> {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const caller = new FakeCaller(socket, provider, options);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    const declared = { format: options.declare ?? caller.wire.inbound, raw: options.declareRaw };
    for (const message of caller.wire.firstMessages(caller.ids, declared)) caller.send(message);
    caller.#t0 = performance.now();
    caller.#tick();
    return caller;
  }

  /** Whether the socket is open. */
  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  /**
   * Queues `samples` (mono, at the send format's rate) after anything queued; they go out in
   * media messages at real-time pace. Resolves when the last of them has been sent.
   */
  speak(samples: Int16Array): Promise<Spoken> {
    const bytes = encodeAudio(samples, this.sendFormat.encoding);
    this.#queue.push(bytes);
    return new Promise((resolve) => {
      this.#drained.push(() =>
        resolve({ startMs: this.#spokeAt ?? performance.now(), endMs: performance.now() }),
      );
    });
  }

  /** Sends one message now, as it is (a malformed one, a media message of the test's making). */
  send(message: WireMessage): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(message, { binary: typeof message !== "string" });
  }

  /** Sends one media message carrying exactly `payload` (already encoded), now. */
  sendMedia(payload: Uint8Array): void {
    this.mediaSent++;
    this.send(this.wire.media(this.ids, payload, this.#position()));
  }

  /** The caller presses `digit` on the keypad. */
  pressKey(digit: string): void {
    this.send(this.wire.dtmf(this.ids, digit, this.#nextSeq()));
  }

  /**
   * The caller hangs up, the provider's way. With a `stop` message (Twilio, Telnyx, Exotel): sent,
   * then the provider waits up to `waitMs` for the bot's server to close the socket before it
   * closes it itself. Without one (Plivo, Vonage): the provider closes the socket.
   */
  async hangUp(waitMs = 3000): Promise<CallEnd> {
    this.#hungUp = true;
    this.#stopTimer();
    if (this.wire.hasStop && this.open) {
      this.send(this.wire.stop(this.ids, this.#nextSeq()));
      const timer = setTimeout(() => this.#close(), waitMs);
      const end = await this.ended;
      clearTimeout(timer);
      return end;
    }
    this.#close();
    return this.ended;
  }

  /** The network drops the call: the TCP connection goes, with no close frame. */
  drop(): void {
    this.#hungUp = true;
    this.#stopTimer();
    this.#closeBy = "caller";
    this.#socket.terminate();
  }

  /** Stops sending media (the caller goes quiet on the wire, e.g. before a burst of the test's own messages). */
  pauseMedia(): void {
    this.#stopTimer();
  }

  /** Resumes media at real-time pace after {@link pauseMedia}. */
  resumeMedia(): void {
    if (this.#timer || this.#hungUp) return;
    this.#t0 = performance.now() - this.mediaSent * this.#frameMs;
    this.#tick();
  }

  /** Ends the test's use of the call: timers stopped, socket closed. */
  dispose(): void {
    this.#hungUp = true;
    this.#stopTimer();
    if (this.#socket.readyState === WebSocket.OPEN || this.#socket.readyState === WebSocket.CONNECTING)
      this.#socket.terminate();
  }

  /** Bot audio that arrived in `(fromMs, toMs]`. */
  heard(fromMs: number, toMs = Infinity): HeardAudio[] {
    return this.audio.filter((a) => a.atMs > fromMs && a.atMs <= toMs);
  }

  /** Waits (real time) until `check()` is truthy; throws after `timeoutMs` with `what`. */
  async waitUntil<T>(check: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value) return value;
      if (performance.now() > deadline)
        throw new Error(
          `${this.provider} call: ${what} did not happen within ${timeoutMs} ms (violations: ${this.violations.join("; ") || "none"})`,
        );
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  // ---------------------------------------------------------------- internals

  #nextSeq(): number {
    return ++this.#seq;
  }

  #position(): { seq: number; chunk: number; timestampMs: number } {
    return { seq: this.#nextSeq(), chunk: this.mediaSent, timestampMs: (this.mediaSent - 1) * this.#frameMs };
  }

  #close(): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    this.#closeBy ??= "caller";
    this.#socket.close(1000, "hung up");
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Sends every media message due by now (a late timer catches up, at most a second's worth). */
  #tick(): void {
    this.#timer = undefined;
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    const due = Math.floor((performance.now() - this.#t0) / this.#frameMs) + 1;
    for (let n = Math.min(due - this.mediaSent, 50); n > 0; n--) this.sendMedia(this.#nextFrame());
    this.#releaseMarks();
    this.#timer = setTimeout(
      () => this.#tick(),
      Math.max(0, this.#t0 + this.mediaSent * this.#frameMs - performance.now()),
    );
  }

  #nextFrame(): Uint8Array {
    if (this.#queue.length === 0) return this.#silence;
    if (this.#spokeAt === undefined) this.#spokeAt = performance.now();
    const frame = new Uint8Array(this.#frameBytes).fill(this.#silence[0]!);
    let filled = 0;
    while (filled < frame.length && this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const take = Math.min(frame.length - filled, head.length - this.#queueAt);
      frame.set(head.subarray(this.#queueAt, this.#queueAt + take), filled);
      filled += take;
      this.#queueAt += take;
      if (this.#queueAt >= head.length) {
        this.#queue.shift();
        this.#queueAt = 0;
      }
    }
    if (this.#queue.length === 0) {
      // Resolved after this frame is on the socket (the next tick's turn).
      const done = this.#drained.splice(0);
      queueMicrotask(() => {
        for (const resolve of done) resolve();
        this.#spokeAt = undefined;
      });
    }
    return frame;
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    const atMs = performance.now();
    const message = this.wire.read(this.ids, data, isBinary);
    this.messages.push({ atMs, bytes: data.byteLength, binary: isBinary, kind: message.kind });
    switch (message.kind) {
      case "audio": {
        const samples = decodeAudio(message.bytes, this.outbound.encoding);
        this.audio.push({
          atMs,
          bytes: message.bytes.byteLength,
          samples,
          sampleRate: this.outbound.sampleRate,
        });
        const ms = (samples.length / this.outbound.sampleRate) * 1000;
        this.#playEnd = Math.max(this.#playEnd, atMs) + ms;
        this.maxBufferedMs = Math.max(this.maxBufferedMs, this.#playEnd - atMs);
        if (this.provider === "vonage" && this.#playEnd - atMs > 3072 * 20)
          this.violations.push("more than 3,072 messages (about 60 s) queued at Vonage");
        return;
      }
      case "clear":
        this.clears.push(atMs);
        this.#playEnd = atMs;
        // A clear discards the queued audio: marks waiting on it are answered at once.
        for (const mark of this.#pendingMarks) mark.dueMs = atMs;
        this.#releaseMarks();
        if (this.wire.cleared) this.send(this.wire.cleared(this.ids, this.#nextSeq()));
        return;
      case "mark":
        this.marks.push({ atMs, name: message.name });
        this.#pendingMarks.push({ dueMs: Math.max(this.#playEnd, atMs), name: message.name });
        return;
      case "violation":
        this.violations.push(message.why);
        return;
      default:
        return;
    }
  }

  #releaseMarks(): void {
    if (!this.wire.markPlayed || this.#pendingMarks.length === 0) return;
    const now = performance.now();
    while (this.#pendingMarks.length > 0 && this.#pendingMarks[0]!.dueMs <= now) {
      const mark = this.#pendingMarks.shift()!;
      this.send(this.wire.markPlayed(this.ids, mark.name, this.#nextSeq()));
    }
  }
}
