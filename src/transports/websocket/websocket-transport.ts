import WebSocket, { type RawData } from "ws";
import type { Clock } from "../../clock/clock.js";
import { DeadlineExceededError, deadline } from "../../clock/deadline.js";
import { SystemClock } from "../../clock/system-clock.js";
import { InvalidOptionError, describe } from "../../errors.js";
import { type EventMap, TypedEvents } from "../../events.js";
import { InputAudioRawFrame, type OutputAudioRawFrame } from "../../frames/audio.js";
import { FrameDirection, type Frame } from "../../frames/frame.js";
import { CancelTaskFrame, EndTaskFrame, InterruptionFrame } from "../../frames/lifecycle.js";
import type { Logger } from "../../logger.js";
import type { DeserializeErrorReason, FrameSerializer } from "../../serializers/frame-serializer.js";
import { BaseInputTransport } from "../base-input-transport.js";
import { BaseOutputTransport, type OutputOpenInfo } from "../base-output-transport.js";
import { BaseTransport } from "../base-transport.js";
import { type ConnectionLease, TransportConnection } from "../transport-connection.js";
import type { TransportParams } from "../transport-params.js";
import { Heartbeat } from "./heartbeat.js";

/**
 * Why a received message was dropped: the serializer's reasons, the per-connection rate limit, or
 * too many messages before the pipeline started.
 */
export type RefusedMessageReason = DeserializeErrorReason | "rate-limited" | "early-overflow";

/** What the transport does to the task when the client goes away. */
export type ClientDisconnectAction = "cancel" | "end" | "none";

/** Options of {@link WebSocketTransport}. Every duration is in ms of the task clock. */
export interface WebSocketTransportOptions {
  /** The wire format; one serializer per connection (it may hold per-connection state). */
  serializer: FrameSerializer;
  params?: Partial<TransportParams>;
  /** Name prefix for the two processors and the logs. @default "ws" */
  name?: string;
  /**
   * After the server's close frame, how long the client gets to answer before the socket is
   * destroyed. @default 500
   */
  closeHandshakeMs?: number;
  /** Time between pings. @default 5000 */
  pingIntervalMs?: number;
  /**
   * Pings in a row the client may leave unanswered (no pong, no message) before the socket is
   * destroyed as half-open. Detection takes at most `(maxMissedPongs + 1) × pingIntervalMs`.
   * @default 2
   */
  maxMissedPongs?: number;
  /**
   * Most messages taken from the client per second (a fixed one-second window of the task
   * clock); the rest are dropped and counted as `rate-limited`. The Pipecat web client sends
   * about 31 audio messages a second. @default 200
   */
  maxMessagesPerSecond?: number;
  /**
   * What the task is asked to do when the client goes away (socket closed or found half-open):
   * `"cancel"` pushes a `CancelTaskFrame` (nothing can reach the client any more, so nothing is
   * worth draining), `"end"` an `EndTaskFrame` (processors that record or bill finish their
   * work), `"none"` leaves it to a `clientDisconnected` handler. @default "cancel"
   */
  onClientDisconnect?: ClientDisconnectAction;
}

/** Events of a {@link WebSocketTransport}. Handlers never block the transport. */
export interface WebSocketTransportEvents extends EventMap {
  /** The pipeline started with the client connected: greet it here. Emitted at most once. */
  clientConnected: () => void;
  /** The client went away (after `clientConnected`). Emitted at most once, never without `clientConnected`. */
  clientDisconnected: (reason: string) => void;
}

/** Most messages held between the socket opening and the pipeline starting (about 16 s of the web client's audio). */
const MAX_EARLY_MESSAGES = 512;
/** Most bytes held between the socket opening and the pipeline starting. */
const MAX_EARLY_BYTES = 1 << 20;

/** Largest close reason a close frame holds, in bytes (RFC 6455: 125 minus the 2-byte code). */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * A WebSocket connection to one client, as two processors sharing one
 * {@link TransportConnection} (docs/design/websocket-transport.md). Give it a `ws` socket that
 * is already open (the dev server's `onSession` hook hands you one) and the serializer the
 * client speaks.
 *
 * Input: each message goes through `serializer.deserialize`, in arrival order; audio is pushed
 * with `pushAudio`, other frames with `pushInput`. A malformed, oversized or unknown message, or
 * one over `maxMessagesPerSecond`, is dropped: the first of each reason is logged (warn), the
 * rest are only counted in {@link refusedMessages}; the session goes on. (A message longer than
 * the server's own ws `maxPayload` cannot be dropped without buffering it: ws closes the socket
 * with 1009. Give the server `maxPayload` ≥ `serializer.maxMessageBytes`.)
 *
 * Output: audio and frames are written through `serializer.serialize` (frames without a wire
 * form are skipped); an interruption sends the serializer's interruption message, only when the
 * serializer writes one (the protobuf serializer: with `sendInterruptions`).
 *
 * Ending: when the socket closes, fails or misses `maxMissedPongs` pings, the connection
 * closes, the output stops producing at once, `clientDisconnected` is emitted and the task is
 * asked to end (`onClientDisconnect`). When both sides are done the socket is closed with a
 * bounded handshake (`closeHandshakeMs`), then destroyed. Nothing (timer, listener, socket)
 * outlives the task.
 *
 * @example
 * startDevServer({ onSession: async (socket) => {
 *   const transport = new WebSocketTransport(socket, { serializer: new ProtobufFrameSerializer() });
 *   transport.on("clientConnected", () => task.queueFrame(new TTSSpeakFrame("Hello!")));
 *   const task = new PipelineTask(new Pipeline([transport.input(), bot, transport.output()]));
 *   await task.run();
 * }});
 */
export class WebSocketTransport extends BaseTransport {
  /** The connection both sides share; it closes when the socket does. */
  readonly connection: TransportConnection;
  readonly serializer: FrameSerializer;
  readonly name: string;
  /** Messages dropped, by reason. */
  readonly refusedMessages: Record<RefusedMessageReason, number> = {
    oversized: 0,
    malformed: 0,
    "unknown-type": 0,
    invalid: 0,
    "rate-limited": 0,
    "early-overflow": 0,
  };
  /** Interruption messages sent to the client. */
  clearsSent = 0;
  readonly #socket: WebSocket;
  readonly #options: Required<Omit<WebSocketTransportOptions, "params" | "name" | "serializer">>;
  readonly #events: TypedEvents<WebSocketTransportEvents>;
  readonly #input: WebSocketInputTransport;
  readonly #output: WebSocketOutputTransport;
  readonly #socketClosed: Promise<void>;
  readonly #detach: () => void;
  #clock: Clock | undefined;
  #heartbeat: Heartbeat | undefined;
  #connected = false;
  #disconnected = false;
  #windowStartMs = 0;
  #windowCount = 0;
  #socketClosing: Promise<void> | undefined;
  /** Messages that came before the input opened, in order; undefined once it has. */
  #early: Array<[RawData, boolean]> | undefined = [];
  #earlyBytes = 0;

  constructor(socket: WebSocket, options: WebSocketTransportOptions) {
    super();
    if (!options || typeof options.serializer?.deserialize !== "function") {
      throw new InvalidOptionError(
        "WebSocketTransport: options.serializer must be a FrameSerializer (e.g. new ProtobufFrameSerializer())",
      );
    }
    this.name = options.name ?? "ws";
    this.serializer = options.serializer;
    this.#options = {
      closeHandshakeMs: positiveMs(this.name, "closeHandshakeMs", options.closeHandshakeMs, 500),
      pingIntervalMs: positiveMs(this.name, "pingIntervalMs", options.pingIntervalMs, 5000),
      maxMissedPongs: positiveInt(this.name, "maxMissedPongs", options.maxMissedPongs, 2),
      maxMessagesPerSecond: positiveInt(this.name, "maxMessagesPerSecond", options.maxMessagesPerSecond, 200),
      onClientDisconnect: options.onClientDisconnect ?? "cancel",
    };
    if (!["cancel", "end", "none"].includes(this.#options.onClientDisconnect)) {
      throw new InvalidOptionError(
        `${this.name}: onClientDisconnect must be "cancel", "end" or "none" (got ${String(options.onClientDisconnect)})`,
      );
    }
    this.#socket = socket;
    this.connection = new TransportConnection({
      name: this.name,
      release: (reason) => this.#closeSocket(reason),
    });
    this.#events = new TypedEvents<WebSocketTransportEvents>(this.name, () => this.#input.logger);
    this.#input = new WebSocketInputTransport(this, options.params, { name: `${this.name}-input` });
    this.#output = new WebSocketOutputTransport(this, options.params ?? {}, {
      name: `${this.name}-output`,
      connection: this.connection,
    });
    this.#socketClosed =
      socket.readyState === WebSocket.CLOSED
        ? Promise.resolve()
        : new Promise((resolve) => socket.once("close", () => resolve()));
    const onMessage = (data: RawData, isBinary: boolean): void => {
      if (this.#early) this.#holdEarly(data, isBinary);
      else this.#input.receive(data, isBinary);
    };
    const onPong = (): void => this.#heartbeat?.alive();
    const onClose = (code: number): void => this.connection.close(`client disconnected (close code ${code})`);
    const onError = (error: Error): void => {
      this.#input.logger.debug(`${this.name}: socket error: ${error.message}`);
      socket.terminate();
    };
    socket.on("message", onMessage);
    socket.on("pong", onPong);
    socket.on("close", onClose);
    socket.on("error", onError);
    this.#detach = () => {
      socket.off("message", onMessage);
      socket.off("pong", onPong);
      socket.off("close", onClose);
      // "error" stays: an error emitted with no listener would throw.
    };
    if (socket.readyState !== WebSocket.OPEN) this.connection.close("socket was not open");
    this.connection.onClose((reason) => this.#onConnectionClosed(reason));
  }

  input(): WebSocketInputTransport {
    return this.#input;
  }

  output(): WebSocketOutputTransport {
    return this.#output;
  }

  /** Adds `handler` for `event`; returns a function that removes it. */
  on<K extends keyof WebSocketTransportEvents>(event: K, handler: WebSocketTransportEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  /** Messages dropped, all reasons together. */
  get refusedMessageCount(): number {
    return Object.values(this.refusedMessages).reduce((a, b) => a + b, 0);
  }

  /** The socket's close event came (the socket holds nothing any more). */
  get socketClosed(): Promise<void> {
    return this.#socketClosed;
  }

  // ---------------------------------------------------------------- used by the two sides

  /** @internal The input opened: the pipeline runs. Starts the heartbeat, says the client is here. */
  opened(clock: Clock): void {
    this.#clock ??= clock;
    this.#releaseEarly();
    if (this.connection.closed) {
      // Gone before the pipeline started: no events, but the task must still end.
      this.#input.requestEnd(this.#options.onClientDisconnect, this.connection.closeReason ?? "client gone");
      return;
    }
    this.#heartbeat ??= new Heartbeat(clock, {
      intervalMs: this.#options.pingIntervalMs,
      maxMissed: this.#options.maxMissedPongs,
      ping: () => {
        if (this.#socket.readyState === WebSocket.OPEN) this.#socket.ping();
      },
      onDead: (missed) => {
        this.#socket.terminate();
        this.connection.close(`client did not answer ${missed} pings in a row (half-open socket)`);
      },
    });
    this.#heartbeat.start();
    if (!this.#connected) {
      this.#connected = true;
      this.#events.emit("clientConnected");
    }
  }

  /** @internal */
  setClock(clock: Clock): void {
    this.#clock ??= clock;
  }

  /** @internal The client said something: it is alive. Returns false when over the rate limit. */
  admit(): boolean {
    this.#heartbeat?.alive();
    const clock = this.#clock;
    if (!clock) return true;
    const now = clock.now();
    if (now - this.#windowStartMs >= 1000) {
      this.#windowStartMs = now;
      this.#windowCount = 0;
    }
    this.#windowCount++;
    return this.#windowCount <= this.#options.maxMessagesPerSecond;
  }

  /** @internal Counts a dropped message; true for the first of its reason (log it). */
  refuse(reason: RefusedMessageReason): boolean {
    return ++this.refusedMessages[reason] === 1;
  }

  /** @internal The input side is done for good: closes the socket if no side holds the connection. */
  async disposed(): Promise<void> {
    if (this.connection.holders === 0) await this.#closeSocket("the task ended before the pipeline started");
  }

  /** @internal Sends one message; resolves false when the socket is not open or the send failed. */
  send(data: Uint8Array | string): Promise<boolean> {
    const socket = this.#socket;
    if (socket.readyState !== WebSocket.OPEN) return Promise.resolve(false);
    return new Promise((resolve) => {
      socket.send(data, { binary: typeof data !== "string" }, (error) => resolve(!error));
    });
  }

  // ---------------------------------------------------------------- internals

  /**
   * The official client sends `client-ready` (and microphone audio) the moment the socket opens,
   * before the pipeline has started: those messages wait here, in order, until the input opens.
   * Bounded: past {@link MAX_EARLY_MESSAGES} messages or {@link MAX_EARLY_BYTES} bytes a message
   * is dropped and counted as `early-overflow`. (Pausing the socket instead lets TCP hold them,
   * but then they arrive as one burst after the start and trip the rate limit.)
   */
  #holdEarly(data: RawData, isBinary: boolean): void {
    const early = this.#early!;
    const bytes = rawSize(data);
    if (early.length >= MAX_EARLY_MESSAGES || this.#earlyBytes + bytes > MAX_EARLY_BYTES) {
      // Said when the input opens: before that, the input has no logger of the task's.
      this.refusedMessages["early-overflow"]++;
      return;
    }
    this.#earlyBytes += bytes;
    early.push([data, isBinary]);
  }

  /** Hands the held messages to the input, in order, and reads the socket again. */
  #releaseEarly(): void {
    const early = this.#early;
    if (!early) return;
    this.#early = undefined;
    this.#earlyBytes = 0;
    const overflow = this.refusedMessages["early-overflow"];
    if (overflow > 0) this.#input.saidEarlyOverflow(overflow);
    for (const [data, isBinary] of early) this.#input.receive(data, isBinary, { admitted: true });
  }

  #onConnectionClosed(reason: string): void {
    this.#heartbeat?.stop();
    if (this.#connected && !this.#disconnected) {
      this.#disconnected = true;
      this.#events.emit("clientDisconnected", reason);
      this.#input.requestEnd(this.#options.onClientDisconnect, reason);
    }
  }

  /** Both sides are done: close with a bounded handshake, then destroy; drop every listener. Once. */
  #closeSocket(reason: string): Promise<void> {
    this.#socketClosing ??= this.#closeSocketOnce(reason);
    return this.#socketClosing;
  }

  async #closeSocketOnce(reason: string): Promise<void> {
    this.#heartbeat?.stop();
    const socket = this.#socket;
    try {
      if (socket.readyState === WebSocket.CLOSED) return;
      // A task cancelled before it started never gave the transport its clock: the handshake
      // is still bounded, on real time.
      const clock = this.#clock ?? new SystemClock();
      if (socket.readyState !== WebSocket.OPEN) {
        socket.terminate();
        return;
      }
      socket.close(1000, closeReason(reason));
      try {
        await deadline(
          clock,
          this.#socketClosed,
          this.#options.closeHandshakeMs,
          `${this.name}: close handshake`,
          {
            io: true,
          },
        );
      } catch (error) {
        if (!(error instanceof DeadlineExceededError)) throw error;
        socket.terminate();
      }
    } finally {
      this.#detach();
      this.serializer.dispose?.();
    }
  }
}

/** Input side of {@link WebSocketTransport}: turns the client's messages into frames. */
export class WebSocketInputTransport extends BaseInputTransport {
  readonly #transport: WebSocketTransport;
  #lease: ConnectionLease | undefined;
  #endRequested = false;

  constructor(
    transport: WebSocketTransport,
    params: Partial<TransportParams> | undefined,
    options: { name: string },
  ) {
    super(params, options);
    this.#transport = transport;
  }

  protected override open(): void {
    this.#lease = this.#transport.connection.acquire(this.name);
    this.#transport.opened(this.clock);
  }

  protected override async close(): Promise<void> {
    // The task is ending already: a disconnect from here on needs no request of its own.
    this.#endRequested = true;
    await this.#lease?.release(`${this.name} closed`);
  }

  /** The task is done with this transport: a socket no side ever took (cancelled before it started) is closed here. */
  protected override async dispose(): Promise<void> {
    this.#endRequested = true;
    await this.#transport.disposed();
  }

  /**
   * @internal One message from the socket. Never throws. `admitted`: held since before the
   * pipeline started, it is not counted against the rate limit (the client sent it over time).
   */
  receive(data: RawData, isBinary: boolean, options: { admitted?: boolean } = {}): void {
    const transport = this.#transport;
    if (!options.admitted && !transport.admit()) {
      this.#refuse(
        "rate-limited",
        `more than maxMessagesPerSecond messages in a second; the excess is dropped (raise maxMessagesPerSecond if the client is right to send that many)`,
      );
      return;
    }
    const bytes = toBytes(data);
    const message = isBinary ? bytes : bytes.toString("utf8");
    const result = transport.serializer.deserialize(message);
    if (!result.ok) {
      this.#refuse(result.error.reason, result.error.message);
      return;
    }
    for (const frame of result.frames) {
      try {
        const pushed =
          frame instanceof InputAudioRawFrame
            ? this.pushAudio(frame.audio, frame.sampleRate, frame.numChannels)
            : this.pushInput(frame);
        pushed.catch((error: unknown) =>
          this.logger.error(`${this.name}: pushing ${frame.name} failed: ${describe(error)}`),
        );
      } catch (error) {
        this.#refuse("invalid", `${frame.name} cannot be pushed: ${describe(error)}`);
      }
    }
  }

  /** @internal Says once how many messages that came before the pipeline started were too many to hold. */
  saidEarlyOverflow(count: number): void {
    this.logger.warn(
      `${this.name}: ${count} message(s) from the client were dropped: more than ${MAX_EARLY_MESSAGES} messages ` +
        `(or ${MAX_EARLY_BYTES} bytes) came before the pipeline started. Start the pipeline sooner (load models ` +
        "before sessions start); the count is in WebSocketTransport.refusedMessages",
      { processor: this.name },
    );
  }

  /** @internal The client is gone: ask the task to end as configured (once). */
  requestEnd(action: ClientDisconnectAction, reason: string): void {
    if (action === "none" || this.#endRequested) return;
    this.#endRequested = true;
    const frame = action === "cancel" ? new CancelTaskFrame(reason) : new EndTaskFrame(reason);
    Promise.resolve()
      .then(() => this.pushFrame(frame, FrameDirection.UPSTREAM))
      .catch((error: unknown) =>
        this.logger.error(`${this.name}: asking the task to end failed: ${describe(error)}`),
      );
  }

  #refuse(reason: RefusedMessageReason, message: string): void {
    if (!this.#transport.refuse(reason)) return;
    const logger: Logger = this.logger;
    logger.warn(
      `${this.name}: a message from the client was dropped: ${message}. Later ${reason} messages are dropped ` +
        "without a log line and counted (WebSocketTransport.refusedMessages)",
      { processor: this.name },
    );
  }
}

/** Output side of {@link WebSocketTransport}: writes frames through the serializer. */
export class WebSocketOutputTransport extends BaseOutputTransport {
  readonly #transport: WebSocketTransport;

  constructor(
    transport: WebSocketTransport,
    params: Partial<TransportParams>,
    options: { name: string; connection: TransportConnection },
  ) {
    super(params, options);
    this.#transport = transport;
  }

  protected override async open(_info: OutputOpenInfo): Promise<void> {
    this.#transport.setClock(this.clock);
    await this.#transport.serializer.setup?.({
      audioInSampleRate: this.#transport.input().pipelineSampleRate,
      audioOutSampleRate: this.sampleRate,
    });
  }

  protected override async writeAudio(frame: OutputAudioRawFrame): Promise<boolean> {
    if (this.sinkClosed) return false;
    const data = this.#transport.serializer.serialize(frame);
    if (data === undefined) return true;
    return this.clock.track(this.#transport.send(data));
  }

  protected override async writeFrame(frame: Frame): Promise<void> {
    if (this.sinkClosed) return;
    const data = this.#transport.serializer.serialize(frame);
    if (data !== undefined) await this.clock.track(this.#transport.send(data));
  }

  protected override async clearClientBuffer(): Promise<void> {
    if (this.sinkClosed) return;
    // The serializer decides whether this client understands an interruption message.
    const data = this.#transport.serializer.serialize(new InterruptionFrame());
    if (data === undefined) return;
    if (await this.clock.track(this.#transport.send(data))) this.#transport.clearsSent++;
  }
}

function rawSize(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

function toBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function closeReason(reason: string): string {
  let text = reason;
  while (Buffer.byteLength(text) > MAX_CLOSE_REASON_BYTES) text = text.slice(0, -1);
  return text;
}

function positiveMs(owner: string, key: string, value: number | undefined, fallback: number): number {
  const ms = value ?? fallback;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0) {
    throw new InvalidOptionError(
      `${owner}: ${key} must be a number of ms > 0 (got ${String(value)}); leave it out for ${fallback}`,
    );
  }
  return ms;
}

function positiveInt(owner: string, key: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidOptionError(
      `${owner}: ${key} must be a whole number ≥ 1 (got ${String(value)}); leave it out for ${fallback}`,
    );
  }
  return n;
}
