import WebSocket, { type RawData } from "ws";
import type { Clock } from "../../clock/clock.js";
import { DeadlineExceededError, deadline } from "../../clock/deadline.js";
import { SystemClock } from "../../clock/system-clock.js";
import { InvalidOptionError } from "../../errors.js";
import { type EventMap, TypedEvents } from "../../events.js";
import type { FrameSerializer } from "../../serializers/frame-serializer.js";
import { BaseTransport } from "../base-transport.js";
import { TransportConnection } from "../transport-connection.js";
import { type EndHook, EndHooks } from "./end-hooks.js";
import { Heartbeat } from "./heartbeat.js";
import {
  MAX_EARLY_BYTES,
  MAX_EARLY_MESSAGES,
  type RefusedMessageReason,
  type WebSocketTransportOptions,
  positiveInt,
  positiveMs,
} from "./websocket-options.js";
import { WebSocketInputTransport } from "./websocket-input.js";
import { WebSocketOutputTransport } from "./websocket-output.js";

/** Events of a {@link WebSocketTransport}. Handlers never block the transport. */
export interface WebSocketTransportEvents extends EventMap {
  /** The pipeline started with the client connected: greet it here. Emitted at most once. */
  clientConnected: () => void;
  /** The client went away (after `clientConnected`). Emitted at most once, never without `clientConnected`. */
  clientDisconnected: (reason: string) => void;
}

/** Why the session ended when the client sent more than the socket's `maxPayload`. */
const TOO_LONG =
  "the client sent a message longer than the socket accepts (close code 1009); give the server a maxPayload " +
  "(the dev server: maxMessageBytes) at least the serializer's maxMessageBytes if the client is right to send it";

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
  readonly #options: Required<
    Omit<WebSocketTransportOptions, "params" | "name" | "serializer" | "receivedMessages">
  >;
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
  /** The server side closed (or destroyed) the socket: its close event is not the client's doing. */
  #serverClosed = false;
  #endedByClient = false;
  readonly #endHooks = new EndHooks();
  /**
   * Messages held until the input opens, in order: those handed over (`receivedMessages`) first,
   * then those that came on the socket since; undefined once it has opened.
   */
  #early: Array<[RawData, boolean]> | undefined = [];
  /**
   * Messages (and bytes) of {@link #early} that came on the socket since the transport was made:
   * only these count against the early caps. The handed-over ones have a cap of their own (the
   * constructor's check), so a full hand-over cannot leave the stream no room (a telephony
   * `stop` right after it would be lost).
   */
  #earlyLive = 0;
  #earlyLiveBytes = 0;

  constructor(socket: WebSocket, options: WebSocketTransportOptions) {
    super();
    if (!options || typeof options.serializer?.deserialize !== "function") {
      throw new InvalidOptionError(
        "WebSocketTransport: options.serializer must be a FrameSerializer (e.g. new ProtobufFrameSerializer())",
      );
    }
    this.name = options.name ?? "ws";
    this.serializer = options.serializer;
    const received = options.receivedMessages ?? [];
    if (received.length > MAX_EARLY_MESSAGES) {
      throw new InvalidOptionError(
        `${this.name}: receivedMessages holds ${received.length} messages; at most ${MAX_EARLY_MESSAGES}`,
      );
    }
    let receivedBytes = 0;
    for (const m of received) {
      const data =
        typeof m.data === "string"
          ? Buffer.from(m.data)
          : Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      this.#early!.push([data, m.isBinary]);
      receivedBytes += data.byteLength;
    }
    if (receivedBytes > MAX_EARLY_BYTES) {
      throw new InvalidOptionError(
        `${this.name}: receivedMessages holds ${receivedBytes} bytes; at most ${MAX_EARLY_BYTES}`,
      );
    }
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
    const onClose = (code: number): void => {
      if (!this.#serverClosed) this.#endedByClient = true;
      this.connection.close(code === 1009 ? TOO_LONG : `client disconnected (close code ${code})`);
    };
    const onError = (error: Error): void => {
      // ws refuses a message over its maxPayload with this error, then the socket goes: say why.
      if ((error as NodeJS.ErrnoException).code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH")
        this.connection.close(TOO_LONG);
      this.#input.logger.debug(`${this.name}: socket error: ${error.message}`);
      this.#serverClosed = true;
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

  /**
   * The client ended the connection itself: it closed the socket, or its stream said it ended
   * (the serializer's end request: a telephony `stop`). False while the connection is up, and when
   * the server side closed it (the task ended, a half-open socket, a protocol error). A network
   * drop looks like the client closing.
   */
  get endedByClient(): boolean {
    return this.#endedByClient;
  }

  /**
   * Runs `hook` when the task ends the connection itself: an `EndFrame` reached the output, which
   * has played everything queued and its end silence, and the client has not ended the connection
   * ({@link endedByClient}); the socket is closed once the hook has settled. The use: hanging up a
   * phone call through the provider's API at the moment the bot's goodbye has played, before the
   * provider learns from the closed stream that it may go on with its answer document
   * (docs/design/telephony.md). Not run on cancel (which stops at once) nor when the client ended.
   *
   * Bounded by nine tenths of the output's `closeTimeoutMs` (TransportParams; the output's
   * `close()` runs the hooks, and the rest is its margin): past it the socket closes anyway, said
   * once (warn), and the hook goes on by itself. A hook that throws is logged (warn) and the close
   * goes on. Returns a function that removes the hook.
   */
  beforeEndClose(hook: EndHook): () => void {
    return this.#endHooks.add(hook);
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
        this.#serverClosed = true;
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

  /** @internal The client's stream said it ended (a telephony `stop`). */
  clientEnded(): void {
    this.#endedByClient = true;
  }

  /**
   * @internal The output played everything at the end of the task: runs the
   * {@link beforeEndClose} hooks, waiting for them at most nine tenths of `closeTimeoutMs` (so
   * the output's own close deadline never fires over them).
   */
  async endingByServer(clock: Clock, closeTimeoutMs: number): Promise<void> {
    if (this.#endedByClient) return;
    const boundMs = Math.round(closeTimeoutMs * 0.9);
    await this.#endHooks.run({ clock, boundMs, logger: this.#input.logger, name: this.name });
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
   * Bounded: past {@link MAX_EARLY_MESSAGES} messages or {@link MAX_EARLY_BYTES} bytes that came
   * since the transport was made, a message is dropped and counted as `early-overflow`. Those
   * handed over in `receivedMessages` are held besides (at most as many again). (Pausing the
   * socket instead lets TCP hold them, but then they arrive as one burst after the start and
   * trip the rate limit.)
   */
  #holdEarly(data: RawData, isBinary: boolean): void {
    const bytes = rawSize(data);
    if (this.#earlyLive >= MAX_EARLY_MESSAGES || this.#earlyLiveBytes + bytes > MAX_EARLY_BYTES) {
      // Said when the input opens: before that, the input has no logger of the task's.
      this.refusedMessages["early-overflow"]++;
      return;
    }
    this.#earlyLive++;
    this.#earlyLiveBytes += bytes;
    this.#early!.push([data, isBinary]);
  }

  /** Hands the held messages to the input, in order, and reads the socket again. */
  #releaseEarly(): void {
    const early = this.#early;
    if (!early) return;
    this.#early = undefined;
    this.#earlyLive = 0;
    this.#earlyLiveBytes = 0;
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
    this.#serverClosed = true;
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

function rawSize(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

function closeReason(reason: string): string {
  let text = reason;
  while (Buffer.byteLength(text) > MAX_CLOSE_REASON_BYTES) text = text.slice(0, -1);
  return text;
}
