import WebSocket from "ws";
import type { Clock } from "../../clock/clock.js";
import { DeadlineExceededError, deadline } from "../../clock/deadline.js";
import { CancelledError, InvalidOptionError, describe } from "../../errors.js";
import type { Logger } from "../../logger.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import { Backoff } from "./backoff.js";
import {
  attemptFailure,
  checkHeaders,
  checkUrl,
  closedError,
  describeClose,
  gaveUpError,
  notOpenMessage,
  rejectedError,
} from "./failure-messages.js";
import { Liveness } from "./liveness.js";
import {
  AttemptError,
  type ConnectionClosed,
  ProviderConnection,
  printableUrl,
} from "./provider-connection.js";
import { ProviderSocketError } from "./provider-socket-error.js";
import {
  type ProviderSocketOptions,
  type ResolvedSocketOptions,
  type SocketData,
  type ProviderSocketState,
  type ProviderSocketStats,
  type SocketMessage,
  resolveSocketOptions,
} from "./provider-socket-options.js";

export type { ProviderSocketState, ProviderSocketStats };

/**
 * The WebSocket a streaming provider service (Deepgram STT, Cartesia, ElevenLabs, Deepgram TTS)
 * holds to its provider: a composed object the service owns and drives, not a base class
 * (docs/design/provider-socket.md). The service gives the provider's few verbs (URL and headers,
 * keep-alive message, end-of-stream message, `onMessage`, `onOpen`); the socket does the rest.
 *
 * Guarantees:
 * - Each attempt to open has a deadline (`connectTimeoutMs`, real I/O under the clock policy).
 * - A drop or a failed attempt while running is retried with exponential backoff on the clock;
 *   after `backoff.maxAttempts` failures in a row it gives up with a {@link ProviderSocketError}
 *   (to `onFailure`, once). An HTTP 4xx answer to the upgrade (but 408 and 429) and a close code
 *   in `permanentCloseCodes` give up at once, with a message that says what to do.
 * - {@link send} never throws: when not open (connecting, reconnecting, closed) or when too much
 *   is unsent, the message is dropped, said once (warn) and counted in `stats.droppedSends`.
 * - {@link close} is bounded by `closeTimeoutMs` (twice at worst: the wait for the server, then
 *   for the destroyed socket), idempotent, and cancels at once an attempt or a backoff wait in
 *   flight; no reconnect happens after it. Afterwards no timer, socket or listener is left.
 * - Memory is bounded: no queue (sends are dropped, not held), counters only.
 *
 * @example
 * this.#socket = new ProviderSocket({
 *   service: this.name, clock: this.clock, logger: this.logger,
 *   url: `${baseUrl}/v1/listen?${query}`, headers: { Authorization: `Token ${key}` },
 *   apiKeyEnv: "DEEPGRAM_API_KEY", baseUrlEnv: "DEEPGRAM_BASE_URL",
 *   keepAlive: { message: '{"type":"KeepAlive"}', intervalMs: 5_000 },
 *   endOfStream: '{"type":"CloseStream"}',
 *   onMessage: (data) => this.#handle(JSON.parse(data.toString())),
 *   onFailure: (error) => void this.pushError(error.message, { fatal: true }),
 * });
 * await this.#socket.start();
 * this.#socket.send(audioBytes);
 * await this.#socket.close(); // CloseStream, final results, close; bounded
 */
export class ProviderSocket {
  /** The owning service's name. */
  readonly service: string;
  readonly stats: ProviderSocketStats = {
    attempts: 0,
    failedAttempts: 0,
    opens: 0,
    reconnects: 0,
    disconnects: 0,
    sent: 0,
    droppedSends: 0,
    keepAlivesSent: 0,
    pingsSent: 0,
    received: 0,
    handlerErrors: 0,
    terminatedAtClose: 0,
  };
  readonly #options: ProviderSocketOptions;
  readonly #settings: ResolvedSocketOptions;
  readonly #backoff: Backoff;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #repeats: RepeatReporter;
  /** Aborted by close(): cancels the attempt or the backoff wait in flight. */
  readonly #lifetime = new AbortController();
  #state: ProviderSocketState = "idle";
  #connection: ProviderConnection | undefined;
  #liveness: Liveness | undefined;
  /** Why the current connection was destroyed by us (a missed pong), for the disconnect message. */
  #destroyedBecause: string | undefined;
  /** The open connection was dropped on purpose ({@link reconnect}): reopen at once, not a failure. */
  #recycling = false;
  #everOpened = false;
  #started: Promise<void> | undefined;
  #settleStarted: ((error?: unknown) => void) | undefined;
  #running: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #failure: ProviderSocketError | undefined;

  /** Checks the options (an {@link InvalidOptionError} names a bad one); connects on {@link start}. */
  constructor(options: ProviderSocketOptions) {
    this.#settings = resolveSocketOptions(options);
    this.#backoff = new Backoff(options.service, options.backoff);
    this.#options = options;
    this.service = options.service;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#repeats = new RepeatReporter({
      owner: options.service,
      logger: () => this.#logger,
      now: () => this.#clock.now(),
    });
  }

  /** Where the socket is in its life. */
  get state(): ProviderSocketState {
    return this.#state;
  }

  /** Why the socket gave up, once it has. */
  get failure(): ProviderSocketError | undefined {
    return this.#failure;
  }

  /** The default wait for the server's close at {@link close}, in ms (`closeTimeoutMs`). */
  get closeTimeoutMs(): number {
    return this.#settings.closeTimeoutMs;
  }

  /** True while a connection is open and {@link send} goes out. */
  get isOpen(): boolean {
    return this.#state === "open";
  }

  /**
   * Starts connecting (retrying with backoff). Resolves when the first connection is open;
   * rejects with the {@link ProviderSocketError} also given to `onFailure` when it gives up
   * first, or with a `CancelledError` when closed first. Not awaiting it is safe (no unhandled
   * rejection). Idempotent: later calls return the same promise.
   */
  start(): Promise<void> {
    if (this.#started) return this.#started;
    this.#started = new Promise<void>((resolve, reject) => {
      this.#settleStarted = (error) => {
        this.#settleStarted = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
    });
    this.#started.catch(() => {}); // the caller may not await it; the failure is reported anyway
    if (this.#state === "idle") {
      this.#running = this.#run().catch((error: unknown) => {
        // A bug, not a provider problem: give up loudly rather than leave the owner waiting.
        this.#connection?.terminate();
        this.#fail(
          new ProviderSocketError(
            this.service,
            "gave-up",
            `${this.service}: the reconnect loop failed: ${describe(error)}`,
            {
              cause: error,
            },
          ),
        );
      });
    } else
      this.#settleStarted?.(
        this.#failure ?? new CancelledError(this.service, "the provider socket was closed"),
      );
    return this.#started;
  }

  /**
   * Sends `data` (a string as a text frame, bytes as a binary frame). Returns false, and sends
   * nothing, when no connection is open or more than `maxBufferedBytes` are waiting unsent: the
   * first drop of each kind is logged (warn), the rest counted in `stats.droppedSends`. Never
   * throws. Messages are never held for a later connection (docs/design/provider-socket.md).
   */
  send(data: SocketData): boolean {
    if (!isSocketData(data)) {
      this.#dropped(
        "send:invalid",
        () =>
          `${this.service}: send() was given ${describeValue(data)}; only a string, a Buffer, an ArrayBuffer or a typed array can be sent (it was dropped)`,
      );
      return false;
    }
    const socket = this.#connection?.socket;
    if (this.#state !== "open" || !socket || socket.readyState !== WebSocket.OPEN) {
      const state = this.#state === "open" ? "waiting" : this.#state;
      this.#dropped(`send:${state}`, () => `${this.service}: ${notOpenMessage(state)}`);
      return false;
    }
    if (socket.bufferedAmount > this.#settings.maxBufferedBytes) {
      this.#dropped(
        "send:backpressure",
        () =>
          `${this.service}: more than ${this.#settings.maxBufferedBytes} bytes wait unsent to the provider (it is not reading, or the network is too slow); further messages are dropped until it catches up`,
      );
      return false;
    }
    socket.send(data);
    this.stats.sent++;
    this.#liveness?.sent();
    return true;
  }

  /**
   * Drops the open connection on purpose and opens a new one at once: no backoff wait, and not
   * counted as a failure. For an owner that can no longer trust what the provider may still send on
   * this connection (Deepgram's `Clear` left unanswered: its audio carries no id, so the cleared
   * text's could not be told from the next sentence's). `isOpen` is false from now on until the new
   * connection opens; `onDisconnect` is called as for a drop (`willReconnect: true`, `reason` =
   * `why`). Returns false, and does nothing, unless a connection is open and the socket is not
   * closing.
   */
  reconnect(why: string): boolean {
    const connection = this.#connection;
    if (this.#state !== "open" || !connection || this.#stopping) return false;
    this.#recycling = true;
    this.#destroyedBecause = why;
    this.#state = "connecting";
    this.#liveness?.stop();
    connection.terminate();
    return true;
  }

  /**
   * Closes for good: cancels an attempt or backoff wait in flight at once; on an open connection
   * sends `endOfStream` (or starts the close handshake), still delivers the provider's last
   * messages to `onMessage`, waits for the server's close up to `timeoutMs`, then destroys the
   * socket. Never reconnects afterwards. Idempotent: later calls return the first call's promise.
   * Never rejects.
   *
   * @param options.timeoutMs - Longest wait for the server's close, in ms. @default `closeTimeoutMs` (1000)
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const timeoutMs = options.timeoutMs ?? this.#settings.closeTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new InvalidOptionError(
        `${this.service}: close timeoutMs must be a finite number of ms above 0 (got ${String(timeoutMs)})`,
      );
    }
    this.#closing = this.#close(timeoutMs);
    return this.#closing;
  }

  get #stopping(): boolean {
    return this.#closing !== undefined;
  }

  async #close(timeoutMs: number): Promise<void> {
    if (this.#state !== "failed") this.#state = "closing";
    this.#lifetime.abort(new CancelledError(this.service, "the provider socket was closed"));
    this.#settleStarted?.(
      new CancelledError(this.service, "the provider socket was closed before it connected"),
    );
    const connection = this.#connection;
    if (connection) await this.#closeConnection(connection, timeoutMs);
    if (this.#running) {
      // Settles at once: the attempt and the wait were aborted, the connection is gone.
      await deadline(
        this.#clock,
        this.#running,
        timeoutMs,
        `${this.service}: stopping the reconnect loop`,
      ).catch((error: unknown) =>
        this.#logger.error(`${this.service}: ${describe(error)}`, { processor: this.service }),
      );
    }
    if (this.#state !== "failed") this.#state = "closed";
    this.#repeats.flush();
  }

  async #closeConnection(connection: ProviderConnection, timeoutMs: number): Promise<void> {
    this.#liveness?.stop();
    const socket = connection.socket;
    if (socket.readyState === WebSocket.OPEN) {
      const endOfStream = this.#messageOf("endOfStream", this.#options.endOfStream);
      if (endOfStream === undefined) socket.close(1000, "client closing");
      else socket.send(endOfStream);
    }
    const what = `${this.service}: the provider's close`;
    try {
      await deadline(this.#clock, connection.closed, timeoutMs, what, { io: true });
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      this.stats.terminatedAtClose++;
      connection.terminate();
      // A destroyed socket closes within a turn or two; bounded all the same.
      await deadline(this.#clock, connection.closed, timeoutMs, what, { io: true }).catch(() => {});
    }
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      this.#state = "connecting";
      let connection: ProviderConnection;
      try {
        connection = await this.#attempt();
      } catch (error) {
        if (this.#stopping) return;
        const failure = attemptFailure(error);
        this.stats.failedAttempts++;
        if (failure.permanent)
          return this.#fail(rejectedError(this.service, this.#where(), failure, this.#options));
        failures++;
        if (failures >= this.#backoff.maxAttempts)
          return this.#fail(gaveUpError(this.service, this.#where(), failures, failure, this.#options));
        const delayMs = this.#backoff.delayAfter(failures);
        this.#repeats.reportOnce(
          `attempt:${failure.key}`,
          () =>
            `${this.service}: could not connect to ${this.#where()}: ${failure.what}; retrying in ${Math.round(delayMs)} ms ` +
            `(attempt ${failures + 1} of ${this.#backoff.maxAttempts})`,
          "warn",
        );
        if (!(await this.#wait(delayMs))) return;
        continue;
      }
      const openedAt = this.#clock.now();
      const closed = await connection.closed;
      this.#liveness?.stop();
      this.#liveness = undefined;
      this.#connection = undefined;
      if (this.#stopping) return;
      this.#state = "connecting";
      this.stats.disconnects++;
      if (this.#recycling) {
        // Dropped on purpose (reconnect()): not a failure, and no backoff: a new connection now.
        this.#recycling = false;
        this.#notifyDisconnect(closed, true);
        this.#destroyedBecause = undefined;
        continue;
      }
      const why = describeClose(closed, this.#destroyedBecause);
      if (this.#clock.now() - openedAt >= this.#settings.stableAfterMs) {
        failures = 0;
        // A drop after a good while is news again: say it (the repeats since the last one are summarised).
        this.#repeats.resolved("disconnect");
      } else {
        this.stats.failedAttempts++;
      }
      failures++;
      if (this.#settings.permanentCloseCodes.has(closed.code) && this.#destroyedBecause === undefined) {
        this.#notifyDisconnect(closed, false);
        return this.#fail(closedError(this.service, why, closed, this.#options));
      }
      if (failures >= this.#backoff.maxAttempts) {
        this.#notifyDisconnect(closed, false);
        return this.#fail(
          gaveUpError(
            this.service,
            this.#where(),
            failures,
            { key: "closed", what: why, permanent: false },
            this.#options,
          ),
        );
      }
      this.#notifyDisconnect(closed, true);
      this.#destroyedBecause = undefined;
      const delayMs = this.#backoff.delayAfter(failures);
      this.#repeats.reportOnce(
        "disconnect",
        () =>
          `${this.service}: the connection to ${this.#where()} was lost (${why}); reconnecting in ${Math.round(delayMs)} ms. ` +
          "Messages sent until it is back are dropped",
        "warn",
      );
      if (!(await this.#wait(delayMs))) return;
    }
  }

  /** One attempt to open, with its deadline; resolves with the open connection. */
  #attempt(): Promise<ProviderConnection> {
    const url = typeof this.#options.url === "function" ? this.#options.url() : this.#options.url;
    const invalid = checkUrl(url);
    if (invalid)
      return Promise.reject(new AttemptError({ key: "invalid-url", what: invalid, permanent: true }));
    const headersOption = this.#options.headers;
    const headers = typeof headersOption === "function" ? headersOption() : (headersOption ?? {});
    const badHeaders = checkHeaders(headers);
    if (badHeaders)
      return Promise.reject(new AttemptError({ key: "invalid-headers", what: badHeaders, permanent: true }));
    this.stats.attempts++;
    return deadline(
      this.#clock,
      (signal) => {
        const connection = new ProviderConnection(url, {
          headers,
          maxPayload: this.#settings.maxMessageBytes,
          signal,
          onOpen: (opened) => this.#opened(opened),
          onMessage: (data, isBinary) => this.#deliver(data, isBinary),
          onPong: () => this.#liveness?.received(),
        });
        return connection.opened.then(() => connection);
      },
      this.#settings.connectTimeoutMs,
      `${this.service}: connecting to ${printableUrl(url)}`,
      { io: true, signal: this.#lifetime.signal },
    );
  }

  /** Called synchronously on the socket's `open`, before its first message. */
  #opened(connection: ProviderConnection): void {
    const reconnected = this.#everOpened;
    this.#everOpened = true;
    this.#connection = connection;
    this.#state = "open";
    this.stats.opens++;
    if (reconnected) this.stats.reconnects++;
    const socket = connection.socket;
    const keepAlive = this.#options.keepAlive;
    const ping = this.#settings.ping;
    this.#liveness = new Liveness(this.#clock, {
      owner: this.service,
      keepAlive:
        keepAlive && this.#settings.keepAliveIntervalMs !== undefined
          ? {
              intervalMs: this.#settings.keepAliveIntervalMs,
              send: () => {
                const message = this.#messageOf("keepAlive", keepAlive.message);
                if (message === undefined || socket.readyState !== WebSocket.OPEN) return;
                socket.send(message);
                this.stats.keepAlivesSent++;
              },
            }
          : undefined,
      ping: ping && {
        ...ping,
        send: () => {
          socket.ping();
          this.stats.pingsSent++;
        },
      },
      onDead: (why) => {
        this.#destroyedBecause = why;
        connection.terminate();
      },
    });
    this.#liveness.start();
    this.#settleStarted?.();
    this.#callHandler("onOpen", () => this.#options.onOpen?.({ reconnected }));
  }

  /**
   * The owner's keep-alive or end-of-stream message, called if it is a function. A throw, or
   * something that cannot be sent, is said once and counted like a throwing handler, and nothing is
   * sent: a timer callback or `close()` must never throw on the owner's behalf.
   */
  #messageOf(name: string, message: SocketMessage | undefined): SocketData | undefined {
    let data: unknown;
    try {
      data = typeof message === "function" ? message() : message;
    } catch (error) {
      this.#handlerFailed(name, error);
      return undefined;
    }
    if (data === undefined || isSocketData(data)) return data;
    this.#handlerFailed(name, new TypeError(`it gave ${describeValue(data)}, which cannot be sent`));
    return undefined;
  }

  #deliver(data: Buffer, isBinary: boolean): void {
    this.stats.received++;
    this.#callHandler("onMessage", () => this.#options.onMessage(data, isBinary));
  }

  /** Calls a handler of the owner; a throw (or a rejection) is said once and counted, never thrown on. */
  #callHandler(name: string, call: () => unknown): void {
    const report = (error: unknown): void => this.#handlerFailed(name, error);
    try {
      const result = call();
      if (result instanceof Promise) result.catch(report);
    } catch (error) {
      report(error);
    }
  }

  #handlerFailed(name: string, error: unknown): void {
    this.stats.handlerErrors++;
    this.#repeats.reportOnce(
      `handler:${name}`,
      () => `${this.service}: its ${name} handler threw (${describe(error)}); the message was skipped`,
    );
  }

  #notifyDisconnect(closed: ConnectionClosed, willReconnect: boolean): void {
    const reason = this.#destroyedBecause ?? closed.reason;
    this.#callHandler("onDisconnect", () =>
      this.#options.onDisconnect?.({ code: closed.code, reason, willReconnect }),
    );
  }

  /** Waits `delayMs` on the clock; false when close() cut it short. */
  async #wait(delayMs: number): Promise<boolean> {
    this.#state = "waiting";
    try {
      await this.#clock.sleep(delayMs, this.#lifetime.signal);
      return true;
    } catch {
      return false;
    }
  }

  #fail(error: ProviderSocketError): void {
    this.#state = "failed";
    this.#failure = error;
    this.#settleStarted?.(error);
    this.#repeats.flush();
    if (this.#options.onFailure) this.#callHandler("onFailure", () => this.#options.onFailure?.(error));
    else this.#logger.error(error.message, { processor: this.service, code: error.code });
  }

  #where(): string {
    try {
      return printableUrl(typeof this.#options.url === "function" ? this.#options.url() : this.#options.url);
    } catch {
      return "the provider";
    }
  }

  #dropped(cause: string, message: () => string): void {
    this.stats.droppedSends++;
    this.#repeats.reportOnce(cause, message, "warn");
  }
}

function isSocketData(data: unknown): data is SocketData {
  return typeof data === "string" || data instanceof ArrayBuffer || ArrayBuffer.isView(data);
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return `an object (${Object.prototype.toString.call(value)})`;
  return `a ${typeof value}`;
}
