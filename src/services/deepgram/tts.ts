import { InvalidOptionError, VoicepipeError } from "../../errors.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import { PcmStreamReader } from "../tts/pcm-stream-reader.js";
import { TTSTimeoutError } from "../tts/tts-errors.js";
import { type SynthesisRequest, TTSService, type TTSServiceOptions } from "../tts/tts-service.js";
import { ProviderSocket } from "../websocket/provider-socket.js";
import type { ProviderSocketOptions } from "../websocket/provider-socket-options.js";
import { DEEPGRAM_DEFAULT_BASE_URL } from "./stt.js";
import { FlushBudget } from "./tts-flush-budget.js";
import { parseSpeakMessage } from "./tts-messages.js";
import { SentenceAudio } from "./tts-sentence-audio.js";
import { nonEmpty } from "../non-empty.js";
import { providerBaseUrl } from "../provider-base-url.js";

/** Rates `/v1/speak` produces for `linear16`, in Hz. */
const DEEPGRAM_TTS_RATES: readonly number[] = [8000, 16000, 24000, 32000, 48000];
/** Longest `Speak` text Deepgram takes, in characters. */
const MAX_SPEAK_CHARS = 2000;

const FLUSH = '{"type":"Flush"}';
const CLEAR = '{"type":"Clear"}';
const CLOSE = '{"type":"Close"}';

/** Options of {@link DeepgramTTSService}; query parameters follow Deepgram's `/v1/speak` names. */
export interface DeepgramTTSOptions extends TTSServiceOptions {
  /** API key, sent as `Authorization: Token <key>`. @default `process.env.DEEPGRAM_API_KEY` */
  apiKey?: string;
  /**
   * Scheme and host; `/v1/speak` is appended. @default `process.env.DEEPGRAM_BASE_URL`, else
   * `wss://api.deepgram.com`
   */
  baseUrl?: string;
  /** The voice model. @default "aura-2-helena-en" */
  model?: string;
  /** Any other documented query parameter (`{ speed: "1.1", mip_opt_out: "true" }`). */
  query?: Readonly<Record<string, string>>;
  /**
   * Deepgram's `Flush` limit: at most `count` per `windowMs` (more are refused with a `Warning`).
   * Each sentence is flushed, so a sentence past the limit waits for a slot.
   * @default { count: 20, windowMs: 60000 }
   */
  flushLimit?: { readonly count: number; readonly windowMs: number };
  /** Where the key and base URL are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** Reconnect, connect-timeout and ping settings of the socket (docs/design/provider-socket.md). */
  socket?: Pick<ProviderSocketOptions, "backoff" | "connectTimeoutMs" | "stableAfterMs" | "ping">;
}

/** Why a Deepgram TTS sentence or the service failed. */
export class DeepgramTTSError extends VoicepipeError {
  readonly code: "VP_DEEPGRAM_TTS_MISSING_KEY" | "VP_DEEPGRAM_TTS_DISCONNECTED" | "VP_DEEPGRAM_TTS_FAILED";
  constructor(
    readonly service: string,
    readonly failure: "missing-key" | "disconnected" | "failed",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code =
      failure === "missing-key"
        ? "VP_DEEPGRAM_TTS_MISSING_KEY"
        : failure === "disconnected"
          ? "VP_DEEPGRAM_TTS_DISCONNECTED"
          : "VP_DEEPGRAM_TTS_FAILED";
  }
}

/** Counters of a {@link DeepgramTTSService}, for tests and "where did that audio go?". */
export interface DeepgramTTSStats {
  /** `Flush` messages sent (one per sentence). */
  flushes: number;
  /** Sentences that waited for Deepgram's flush limit. */
  flushWaits: number;
  /** `Clear` messages sent (an interrupted or abandoned sentence). */
  clears: number;
  /** `Cleared` answers received. */
  cleared: number;
  /** Bytes of audio dropped because they arrived between `Clear` and `Cleared` (the cleared text's). */
  audioDroppedAfterClear: number;
  /** Bytes of audio dropped because no sentence was waiting for them. */
  audioDroppedUnexpected: number;
  /** Text messages that could not be read (said once, then counted). */
  malformedMessages: number;
  /** Connections dropped and reopened because a `Clear` was not answered in time. */
  reconnectsForClear: number;
}

/**
 * Text to speech on Deepgram's WebSocket (`/v1/speak`), raw protocol, no SDK
 * (docs/design/tts-services.md, "Deepgram"). One socket per service, opened at start and kept
 * (reconnects are the {@link ProviderSocket}'s). Each sentence is `{"type":"Speak"}` then
 * `{"type":"Flush"}`; its audio is the binary messages up to `Flushed`. An interrupted or
 * abandoned sentence sends `{"type":"Clear"}`, and every byte of audio that arrives until
 * `Cleared` is dropped: it belongs to the cleared text (binary messages carry no id). The next
 * sentence waits for `Cleared` before it speaks; past half of `stallTimeoutMs` it stops waiting and
 * the connection is reopened instead, so the cleared text's audio can never reach it. At the end,
 * `{"type":"Close"}`.
 *
 * Reconnects: a sentence cut by a drop fails (said once) and the next waits for the new connection;
 * one that finds the socket closing before anything of it went out is spoken on the next
 * connection; a socket that gives up after having opened (a reconnect refused with 401) is one
 * fatal error at once (docs/design/tts-services.md, "Deepgram").
 *
 * The audio is `linear16` at the task's rate when Deepgram offers it (8, 16, 24, 32, 48 kHz),
 * else at 24 kHz, resampled. A missing key is a fatal error naming `DEEPGRAM_API_KEY`; a rejected
 * one (401 on the upgrade) the socket's permanent error naming it.
 *
 * @example
 * const tts = new DeepgramTTSService({ model: "aura-2-thalia-en" }); // key from DEEPGRAM_API_KEY
 */
export class DeepgramTTSService extends TTSService {
  readonly stats: DeepgramTTSStats = {
    flushes: 0,
    flushWaits: 0,
    clears: 0,
    cleared: 0,
    audioDroppedAfterClear: 0,
    audioDroppedUnexpected: 0,
    malformedMessages: 0,
    reconnectsForClear: 0,
  };
  readonly #options: DeepgramTTSOptions;
  readonly #apiKey: string | undefined;
  readonly #baseUrl: string;
  readonly #model: string;
  readonly #budget: FlushBudget;
  #rate = 24_000;
  #socket: ProviderSocket | undefined;
  /** The sentence whose audio is arriving (one at a time: the base speaks sentences in order). */
  #current: SentenceAudio | undefined;
  /** `Clear`s sent and not answered: audio arriving meanwhile is the cleared text's. */
  #clearsPending = 0;
  /** Woken when the socket opens or `Cleared` arrives. */
  #waiters = new Set<() => void>();
  /** The socket gave up for good: every sentence fails at once with this. */
  #failure: Error | undefined;
  /** Connections opened so far: a sentence whose first message found the socket closing waits for the next. */
  #opens = 0;
  #repeats: RepeatReporter | undefined;

  constructor(options: DeepgramTTSOptions = {}) {
    super(options);
    const env = options.env ?? process.env;
    this.#options = options;
    this.#apiKey = nonEmpty(options.apiKey) ?? nonEmpty(env["DEEPGRAM_API_KEY"]);
    this.#baseUrl = providerBaseUrl(
      this.name,
      options.baseUrl,
      "DEEPGRAM_BASE_URL",
      DEEPGRAM_DEFAULT_BASE_URL,
      env,
    );
    const model = options.model ?? "aura-2-helena-en";
    if (typeof model !== "string" || model.trim() === "") {
      throw new InvalidOptionError(
        `${this.name}: model must be a non-empty string (got ${JSON.stringify(model)})`,
      );
    }
    this.#model = model;
    if ((options.maxSentenceChars ?? 0) > MAX_SPEAK_CHARS) {
      throw new InvalidOptionError(
        `${this.name}: maxSentenceChars must be at most ${MAX_SPEAK_CHARS}, Deepgram's limit per Speak message (got ${options.maxSentenceChars})`,
      );
    }
    const limit = options.flushLimit ?? { count: 20, windowMs: 60_000 };
    if (
      !Number.isInteger(limit.count) ||
      limit.count < 1 ||
      !Number.isFinite(limit.windowMs) ||
      limit.windowMs <= 0
    ) {
      throw new InvalidOptionError(
        `${this.name}: flushLimit must be { count: a whole number ≥ 1, windowMs: ms above 0 } (got ${JSON.stringify(limit)}); ` +
          "Deepgram allows 20 per 60000 ms",
      );
    }
    this.#budget = new FlushBudget(limit.count, limit.windowMs);
    if (options.socket?.connectTimeoutMs !== undefined) {
      const ms = options.socket.connectTimeoutMs;
      if (!Number.isFinite(ms) || ms <= 0)
        throw new InvalidOptionError(
          `${this.name}: socket.connectTimeoutMs must be a number of ms above 0 (got ${ms})`,
        );
    }
  }

  /** The URL the service connects to at `sampleRate` (the key is in a header, never here). */
  speakUrl(sampleRate: number): string {
    const q = new URLSearchParams({
      model: this.#model,
      encoding: "linear16",
      sample_rate: String(sampleRate),
    });
    for (const [name, value] of Object.entries(this.#options.query ?? {})) q.set(name, value);
    return `${this.#baseUrl}/v1/speak?${q.toString()}`;
  }

  /** The socket's counters (reconnects, dropped sends), once started. */
  get socketStats(): ProviderSocket["stats"] | undefined {
    return this.#socket?.stats;
  }

  protected override get engineSampleRate(): number {
    return this.#rate;
  }

  protected override get model(): string {
    return this.#model;
  }

  protected override async connect(signal: AbortSignal): Promise<void> {
    if (this.#apiKey === undefined) {
      throw new DeepgramTTSError(
        this.name,
        "missing-key",
        `${this.name}: no API key: set DEEPGRAM_API_KEY in the environment (or pass the apiKey option); the service cannot speak without one`,
      );
    }
    this.#rate = DEEPGRAM_TTS_RATES.includes(this.sampleRate) ? this.sampleRate : 24_000;
    const socket = new ProviderSocket({
      ...this.#options.socket,
      service: this.name,
      clock: this.clock,
      logger: this.logger,
      url: this.speakUrl(this.#rate),
      headers: { Authorization: `Token ${this.#apiKey}` },
      apiKeyEnv: "DEEPGRAM_API_KEY",
      baseUrlEnv: "DEEPGRAM_BASE_URL",
      endOfStream: CLOSE,
      closeTimeoutMs: 400,
      onMessage: (data, isBinary) => this.#onMessage(data, isBinary),
      onOpen: () => {
        this.#opens++;
        this.#wakeAll();
      },
      onDisconnect: ({ reason, code }) =>
        this.#lost(`the connection closed (${code}${reason ? ` ${reason}` : ""})`),
      onFailure: (error) => {
        this.#failure = error;
        this.#lost(error.message);
        // Before the first open, start() rejects with it and the start is fatal. After, nobody
        // else would say it until the next sentence tried (a 401 on a reconnect between turns).
        if (this.#opens > 0) void this.fail(error);
      },
    });
    this.#socket = socket;
    const onAbort = (): void => void socket.close({ timeoutMs: 200 });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await socket.start();
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  protected override async disconnect(_how: "end" | "cancel", waitMs: number): Promise<void> {
    const socket = this.#socket;
    await socket?.close({ timeoutMs: Math.min(socket.closeTimeoutMs, waitMs) });
    this.#repeats?.flush();
  }

  protected override async *synthesize(
    text: string,
    signal: AbortSignal,
    request: SynthesisRequest,
  ): AsyncGenerator<Int16Array> {
    const socket = this.#socket!;
    await this.#ready(socket, signal, request);
    // A wait for a slot under the flush limit is the provider's rate limit, not a stall.
    await request.waitForRateLimit(this.#flushSlot(signal));
    const sentence = new SentenceAudio();
    this.#current = sentence;
    let complete = false;
    try {
      const speak = JSON.stringify({ type: "Speak", text });
      if (!socket.send(speak)) {
        // Nothing of the sentence went out: the server's close is on its way (the socket looks
        // open until it is reported). Speak it on the next connection, within the stall bound.
        const opens = this.#opens;
        if (this.#current === sentence) this.#current = undefined;
        await this.#ready(socket, signal, request, opens);
        this.#current = sentence;
        if (!socket.send(speak)) throw this.#failure ?? this.#disconnected("the sentence could not be sent");
      }
      if (!socket.send(FLUSH)) throw this.#failure ?? this.#disconnected("the connection dropped");
      this.stats.flushes++;
      this.#budget.used(this.clock.now());
      const reader = new PcmStreamReader(`the audio from ${this.#baseUrl}`, {
        sampleRate: this.#rate,
        numChannels: 1,
      });
      for (;;) {
        const chunk = await sentence.next(signal);
        if (chunk === undefined) break;
        const audio = reader.push(chunk);
        if (audio.length > 0) yield audio;
      }
      reader.end();
      complete = true;
    } finally {
      if (this.#current === sentence) this.#current = undefined;
      // Interrupted, abandoned or failed: stop Deepgram, and drop what it still sends of this text.
      if (!complete && socket.isOpen && socket.send(CLEAR)) {
        this.stats.clears++;
        this.#clearsPending++;
      }
    }
  }

  /**
   * Waits until the socket is open and every `Clear` was answered (bounded by the base's stall
   * deadline); with `after`, until a connection newer than the `after`th is open. A wait for the
   * connection goes through `request.waitForConnection`, so it is bounded and reported as one.
   */
  async #ready(
    socket: ProviderSocket,
    signal: AbortSignal,
    request: SynthesisRequest,
    after = 0,
  ): Promise<void> {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      if (this.#failure) throw this.#failure;
      const connected = socket.isOpen && this.#opens > after;
      if (connected && this.#clearsPending === 0) return;
      if (!connected) {
        await request.waitForConnection(this.#connected(socket, signal, after));
        continue;
      }
      // A Clear is unanswered: audio arriving now is the cleared text's, and binary messages carry
      // no id, so nothing may be sent on this connection until Cleared (lifting the gate would play
      // the cleared text's tail in this sentence). Cleared is waited for at most half the stall
      // bound; then the connection is dropped and a new one opened, on which nothing of the cleared
      // text can arrive, and the sentence waits for it as for any reconnect (a bound of its own).
      const recycle = this.clock.setTimer(() => this.#reconnectForClear(socket), this.#clearedWithinMs);
      try {
        await this.#wait(signal);
      } catch (error) {
        // The stall bound ran out all the same: still never lift the gate with the Clear
        // unanswered. (An interruption keeps it: the cleared audio may still come.)
        if (signal.reason instanceof TTSTimeoutError) this.#reconnectForClear(socket);
        throw error;
      } finally {
        recycle.cancel();
      }
    }
  }

  /** Longest wait for `Cleared` before the connection is reopened, in ms: half the stall bound. */
  get #clearedWithinMs(): number {
    return this.stallTimeoutMs / 2;
  }

  /** Deepgram has not answered a `Clear` in time: reopen the connection, so its stale audio cannot reach a later sentence. */
  #reconnectForClear(socket: ProviderSocket): void {
    if (this.#clearsPending === 0 || !socket.isOpen) return;
    const ms = Math.round(this.#clearedWithinMs);
    if (!socket.reconnect(`Deepgram did not answer Clear with Cleared within ${ms} ms`)) return;
    this.stats.reconnectsForClear++;
    this.#report(
      "no-cleared",
      `${this.name}: Deepgram did not answer Clear with Cleared within ${ms} ms; the connection was reopened, ` +
        "so none of the cleared text's audio can reach the next sentence",
    );
    this.#wakeAll(); // the sentence waiting for Cleared waits for the new connection instead
  }

  /** Resolves once a connection newer than the `after`th is open; rejects with the socket's failure or `signal.reason`. */
  async #connected(socket: ProviderSocket, signal: AbortSignal, after: number): Promise<void> {
    while (!(socket.isOpen && this.#opens > after)) {
      if (this.#failure) throw this.#failure;
      await this.#wait(signal);
    }
  }

  /** Waits for a slot under Deepgram's flush limit, on the task clock. */
  async #flushSlot(signal: AbortSignal): Promise<void> {
    const now = this.clock.now();
    const at = this.#budget.nextAt(now);
    if (at <= now) return;
    this.stats.flushWaits++;
    this.#report(
      "flush-limit",
      `${this.name}: Deepgram allows ${this.#budget.count} Flush messages per ${this.#budget.windowMs} ms; ` +
        `sentences wait for a slot (this one ${Math.round(at - now)} ms)`,
      "warn",
    );
    await this.clock.waitUntil(at, signal);
  }

  #wait(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener("abort", onAbort);
        this.#waiters.delete(wake);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiters.delete(wake);
        reject(signal.reason);
      };
      this.#waiters.add(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #wakeAll(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** The connection ended (it reconnects, or gave up): the sentence in flight cannot complete. */
  #lost(why: string): void {
    this.#clearsPending = 0; // a new connection has nothing to clear
    const current = this.#current;
    this.#current = undefined;
    current?.fail(this.#failure ?? this.#disconnected(why));
    this.#wakeAll();
  }

  #disconnected(why: string): DeepgramTTSError {
    return new DeepgramTTSError(
      this.name,
      "disconnected",
      `${this.name}: ${why} while a sentence was being spoken; it was cut short (the socket reconnects)`,
    );
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      if (this.#clearsPending > 0) this.stats.audioDroppedAfterClear += data.length;
      else if (this.#current) this.#current.push(data);
      else this.stats.audioDroppedUnexpected += data.length;
      return;
    }
    const message = parseSpeakMessage(data.toString("utf8"));
    if ("cause" in message) {
      this.stats.malformedMessages++;
      this.#report(
        `malformed:${message.cause}`,
        `${this.name}: Deepgram sent ${message.what}; it was ignored`,
      );
      return;
    }
    switch (message.type) {
      case "Flushed":
        // While a Clear is pending, a Flushed is the cleared sentence's.
        if (this.#clearsPending === 0) {
          this.#current?.finish();
          this.#current = undefined;
        }
        return;
      case "Cleared":
        this.stats.cleared++;
        if (this.#clearsPending > 0) this.#clearsPending--;
        if (this.#clearsPending === 0) this.#wakeAll();
        return;
      case "Metadata":
        this.logger.debug(
          `${this.name}: connected to ${message.model ?? "?"} (request ${message.requestId ?? "?"})`,
          {
            processor: this.name,
          },
        );
        return;
      case "Warning":
        this.#report(
          `warning:${message.warningCode ?? ""}`,
          `${this.name}: Deepgram warned: ${message.description}`,
          "warn",
        );
        return;
      case "Other":
        this.stats.malformedMessages++;
        this.#report(
          message.error === undefined ? "unknown-type" : "provider-error",
          message.error === undefined
            ? `${this.name}: Deepgram sent a message of type "${message.name}", which this service does not know; ignored`
            : `${this.name}: Deepgram reported an error: ${message.error}`,
        );
    }
  }

  /** Says a problem once (an error upstream, or a warning in the log), then counts it. */
  #report(cause: string, message: string, level: "warn" | "error" = "error"): void {
    this.#repeats ??= new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => this.clock.now(),
    });
    if (!this.#repeats.occurred(cause, message)) return;
    if (level === "error") void this.pushError(message);
    else this.logger.warn(message, { processor: this.name });
  }
}
