import { InvalidOptionError } from "../../errors.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import { nonEmpty } from "../non-empty.js";
import { RecentIds } from "../tts/open-gate.js";
import { PcmByteCarry } from "../tts/pcm-byte-carry.js";
import { providerBaseUrl } from "../provider-base-url.js";
import { checkProviderOptions } from "../tts/provider-options.js";
import { type ProviderTTSStats, zeroProviderTTSStats } from "../tts/provider-tts-stats.js";
import { SpeechSocket } from "../tts/speech-socket.js";
import { SynthesisStream } from "../tts/synthesis-stream.js";
import { previewText } from "../tts/text-preview.js";
import { MissingTTSApiKeyError, TTSProviderError, quoteProvider } from "../tts/tts-provider-errors.js";
import {
  type ContextEnd,
  type SynthesisOutput,
  type SynthesisRequest,
  TTSService,
  type TTSServiceOptions,
} from "../tts/tts-service.js";
import type { ProviderSocketError } from "../websocket/provider-socket-error.js";
import type { ProviderSocketOptions } from "../websocket/provider-socket-options.js";
import { type CartesiaMessage, parseCartesiaMessage } from "./tts-messages.js";

/** Cartesia's public endpoint; `CARTESIA_BASE_URL` or `baseUrl` replace it (`/tts/websocket` is appended). */
export const CARTESIA_DEFAULT_BASE_URL = "wss://api.cartesia.ai";
/** The API version sent as `Cartesia-Version`. */
export const CARTESIA_DEFAULT_VERSION = "2025-04-16";
/** The voice used when none is given (Cartesia's documented example voice). */
export const CARTESIA_DEFAULT_VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091";
/** Output rates the websocket offers for `pcm_s16le`, in Hz. */
export const CARTESIA_SAMPLE_RATES: readonly number[] = [8000, 16000, 22050, 24000, 44100, 48000];

/**
 * A context is reused for the next sentence of a response only if it heard from Cartesia this
 * recently, in ms: Cartesia expires a context about 1 s after its last audio, and sending to an
 * expired one is unsupported. Past it the sentence opens a new context (the voice restarts its
 * prosody after what was a pause anyway).
 */
const CONTEXT_REUSE_MS = 500;
/** Cancelled or finished context ids remembered, so their late messages are dropped quietly. */
const RECENT_CONTEXTS = 32;

/** Options of {@link CartesiaTTSService}. */
export interface CartesiaTTSOptions extends TTSServiceOptions {
  /** API key, sent as `X-API-Key`. @default `process.env.CARTESIA_API_KEY` */
  apiKey?: string;
  /** Scheme and host; `/tts/websocket` is appended. @default `process.env.CARTESIA_BASE_URL`, else `wss://api.cartesia.ai` */
  baseUrl?: string;
  /** Where the key and base URL are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** The voice's id. @default {@link CARTESIA_DEFAULT_VOICE} */
  voiceId?: string;
  /** @default "sonic-2" */
  model?: string;
  /** Language code of the text (`en`, `fr`, `de`, `es`, `ja`, …). @default "en" */
  language?: string;
  /** `Cartesia-Version` header. @default {@link CARTESIA_DEFAULT_VERSION} */
  version?: string;
  /** Reconnect, connect-timeout, ping and close settings of the socket (docs/design/provider-socket.md). */
  socket?: Pick<
    ProviderSocketOptions,
    "backoff" | "connectTimeoutMs" | "stableAfterMs" | "ping" | "closeTimeoutMs"
  >;
}

/** Counters of a {@link CartesiaTTSService}, for tests and "where did that audio go?". */
export type CartesiaTTSStats = ProviderTTSStats;

interface ProviderContext {
  readonly id: string;
  /** The base's response context it speaks. */
  readonly response: string;
  /** The connection it lives on (a reconnect forgets every context). */
  readonly connection: number;
  /** Audio received on it so far, in ms (Cartesia's word times count from its start). */
  audioMs: number;
  lastActivityMs: number;
}

interface Sentence {
  readonly context: ProviderContext;
  readonly text: string;
  readonly stream: SynthesisStream;
  readonly carry: PcmByteCarry;
  /** The context's audio before this sentence, in ms. */
  readonly audioMsBefore: number;
}

/**
 * Cartesia text-to-speech over its WebSocket (`/tts/websocket`), without the SDK
 * (docs/design/tts-services.md, "Cartesia"). One Cartesia context per response, so the voice keeps
 * its prosody across sentences: each sentence is sent with `continue: true` and a manual flush,
 * and its audio is read until that flush's `flush_done`; at the response's end an empty
 * `continue: false` input finishes the context. Word timestamps become one `TTSTextFrame` per word
 * with `pts`. On an interruption the context is cancelled (`cancel: true`), and the chunks Cartesia
 * still sends for it (cancel does not stop a generation under way) are dropped and counted, never
 * played. A missing or rejected key is one clear fatal error naming `CARTESIA_API_KEY`.
 *
 * @example
 * const tts = new CartesiaTTSService({ voiceId: "a0e99841-438c-4a64-b679-ae501e7d6091", model: "sonic-2" });
 * const pipeline = new Pipeline([transport.input(), stt, userAggregator, llm, tts, transport.output()]);
 */
export class CartesiaTTSService extends TTSService {
  readonly #apiKey: string | undefined;
  readonly #baseUrl: string;
  readonly #voiceId: string;
  readonly #model: string;
  readonly #language: string;
  readonly #version: string;
  readonly #socketOptions: CartesiaTTSOptions["socket"];
  readonly #cancelled = new RecentIds(RECENT_CONTEXTS);
  readonly #finished = new RecentIds(RECENT_CONTEXTS);
  #socket: SpeechSocket | undefined;
  #connection = 0;
  #engineRate = 24_000;
  #contexts = 0;
  #current: ProviderContext | undefined;
  #reading: Sentence | undefined;
  #repeats: RepeatReporter | undefined;
  readonly #stats: CartesiaTTSStats = zeroProviderTTSStats();

  constructor(options: CartesiaTTSOptions = {}) {
    super(options);
    const checked = checkProviderOptions(this.name, options, {
      sampleRates: CARTESIA_SAMPLE_RATES,
      defaultVoice: CARTESIA_DEFAULT_VOICE,
      defaultModel: "sonic-2",
      defaultLanguage: "en",
    });
    this.#voiceId = checked.voiceId;
    this.#model = checked.model;
    this.#language = checked.language ?? "en";
    this.#version = options.version ?? CARTESIA_DEFAULT_VERSION;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(this.#version)) {
      throw new InvalidOptionError(
        `${this.name}: version must be a Cartesia API version date such as ${CARTESIA_DEFAULT_VERSION} (got ${JSON.stringify(this.#version)})`,
      );
    }
    const env = options.env ?? process.env;
    this.#apiKey = options.apiKey ?? nonEmpty(env["CARTESIA_API_KEY"]);
    this.#baseUrl = providerBaseUrl(
      this.name,
      options.baseUrl,
      "CARTESIA_BASE_URL",
      CARTESIA_DEFAULT_BASE_URL,
      env,
    );
    this.#socketOptions = options.socket;
  }

  /** The URL the service connects to (the key goes in a header, never here). */
  get url(): string {
    return `${this.#baseUrl}/tts/websocket`;
  }

  /** Counters: sentences, chunks, late chunks dropped after a cancel, malformed messages. */
  get stats(): Readonly<CartesiaTTSStats> {
    return this.#stats;
  }

  /** The socket's counters (reconnects, dropped sends), once started. */
  get socketStats(): SpeechSocket["stats"] | undefined {
    return this.#socket?.stats;
  }

  protected override get model(): string {
    return this.#model;
  }

  protected override get engineSampleRate(): number {
    return this.#engineRate;
  }

  protected override async connect(signal: AbortSignal): Promise<void> {
    if (this.#apiKey === undefined) throw new MissingTTSApiKeyError(this.name, "CARTESIA_API_KEY");
    // Ask Cartesia for the pipeline's rate when it offers it; otherwise the base resamples.
    this.#engineRate = CARTESIA_SAMPLE_RATES.includes(this.sampleRate) ? this.sampleRate : 24_000;
    const socket = new SpeechSocket({
      ...this.#socketOptions,
      service: this.name,
      clock: this.clock,
      logger: this.logger,
      url: this.url,
      headers: { "X-API-Key": this.#apiKey, "Cartesia-Version": this.#version },
      apiKeyEnv: "CARTESIA_API_KEY",
      baseUrlEnv: "CARTESIA_BASE_URL",
      onMessage: (data, isBinary) => this.#onMessage(data, isBinary),
      onOpen: () => void this.#connection++,
      onDisconnect: (code, reason) => this.#onDisconnect(code, reason),
      onFailure: (error, afterOpen) => this.#onFailure(error, afterOpen),
    });
    this.#socket = socket;
    await socket.start(signal);
  }

  protected override async disconnect(how: "end" | "cancel", waitMs: number): Promise<void> {
    this.#reading?.stream.fail(new TTSProviderError(this.name, `${this.name}: disconnected`));
    await this.#socket?.close(how, waitMs);
    this.#repeats?.flush();
  }

  protected override async *synthesize(
    text: string,
    signal: AbortSignal,
    request: SynthesisRequest,
  ): AsyncGenerator<SynthesisOutput, void, undefined> {
    const socket = this.#socket;
    if (!socket) throw new TTSProviderError(this.name, `${this.name}: not connected`);
    // A socket reconnecting (Cartesia closes idle ones after 5 minutes) is waited for, as a wait for the connection.
    await socket.open(signal, request.waitForConnection);
    const context = this.#contextFor(request);
    const sentence: Sentence = {
      context,
      text,
      stream: new SynthesisStream(),
      carry: new PcmByteCarry(),
      audioMsBefore: context.audioMs,
    };
    this.#stats.sentences++;
    let complete = false;
    try {
      // Sent before the sentence is the one being read: a connection lost just before (and
      // reported while the sentence waits for the next one) must not fail a sentence not sent yet.
      // Its audio cannot come before `#reading` is set: nothing is awaited once it went out.
      const sent = await socket.sendSentence(
        [
          JSON.stringify(this.#input(context.id, text, true)),
          JSON.stringify({ ...this.#input(context.id, "", true), flush: true }),
        ],
        signal,
        request.waitForConnection,
      );
      this.#reading = sentence;
      context.lastActivityMs = this.clock.now();
      if (!sent) {
        throw new TTSProviderError(
          this.name,
          `${this.name}: the connection to Cartesia closed before "${previewText(text)}" could be sent; the sentence was skipped`,
        );
      }
      yield* sentence.stream.read(signal);
      complete = true;
    } finally {
      if (this.#reading === sentence) this.#reading = undefined;
      sentence.carry.reset();
      this.#stats.oddBytesDropped += sentence.carry.droppedBytes;
      // Interrupted, timed out or failed: whatever Cartesia still sends for this context is stale.
      if (!complete) this.#cancel(context);
    }
  }

  protected override endContext(contextId: string, reason: ContextEnd): void {
    const context = this.#current;
    if (!context || context.response !== contextId) return;
    if (reason === "interrupted") return this.#cancel(context);
    this.#current = undefined;
    this.#finished.add(context.id);
    if (context.connection === this.#connection) {
      this.#socket?.send(JSON.stringify(this.#input(context.id, "", false)));
    }
  }

  // ---------------------------------------------------------------- internals

  /** The response's Cartesia context, or a new one (first sentence, after a reconnect, or one left idle). */
  #contextFor(request: SynthesisRequest): ProviderContext {
    const current = this.#current;
    if (
      current &&
      current.response === request.contextId &&
      current.connection === this.#connection &&
      this.clock.now() - current.lastActivityMs < CONTEXT_REUSE_MS
    ) {
      return current;
    }
    if (current) this.endContext(current.response, "finished");
    const context: ProviderContext = {
      id: `${request.contextId}:${++this.#contexts}`,
      response: request.contextId,
      connection: this.#connection,
      audioMs: 0,
      lastActivityMs: this.clock.now(),
    };
    this.#current = context;
    return context;
  }

  /** Cancels a context (idempotent): Cartesia stops what has not started; what still comes is dropped. */
  #cancel(context: ProviderContext): void {
    if (this.#current === context) this.#current = undefined;
    if (this.#cancelled.has(context.id)) return;
    this.#cancelled.add(context.id);
    if (context.connection === this.#connection) {
      this.#socket?.send(JSON.stringify({ context_id: context.id, cancel: true }));
    }
  }

  #input(contextId: string, transcript: string, more: boolean): Record<string, unknown> {
    return {
      model_id: this.#model,
      transcript,
      voice: { mode: "id", id: this.#voiceId },
      language: this.#language,
      context_id: contextId,
      output_format: { container: "raw", encoding: "pcm_s16le", sample_rate: this.#engineRate },
      add_timestamps: true,
      continue: more,
    };
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      return this.#malformed(
        "binary",
        `a binary message (${data.length} bytes); it sends only JSON text, so it was ignored`,
      );
    }
    const message = parseCartesiaMessage(data.toString("utf8"));
    if ("cause" in message) return this.#malformed(message.cause, `${message.what}; it was ignored`);
    const sentence = this.#reading;
    // A cancelled context's messages are stale even while a sentence still reads it (it is being
    // stopped): checked first, so none of its late chunks is ever pushed.
    const cancelled = message.contextId !== undefined && this.#cancelled.has(message.contextId);
    const mine = !cancelled && sentence !== undefined && sentence.context.id === message.contextId;
    if (message.type === "error") return this.#onError(message, mine ? sentence : undefined);
    if (!mine) return this.#notSpeaking(message);
    sentence.context.lastActivityMs = this.clock.now();
    switch (message.type) {
      case "chunk": {
        this.#stats.chunks++;
        const audio = sentence.carry.push(Buffer.from(message.data, "base64"));
        sentence.context.audioMs += (audio.length * 1000) / this.#engineRate;
        sentence.stream.push(audio);
        return;
      }
      case "timestamps": {
        // Cartesia counts from the context's start; a server counting from the flush is taken as it is.
        const before = sentence.audioMsBefore;
        const words = message.words.map((text, i) => {
          const ms = message.starts[i]! * 1000;
          return { text, startMs: ms + 1 >= before ? Math.max(0, ms - before) : ms };
        });
        sentence.stream.push({ words });
        return;
      }
      case "flush_done":
      case "done":
        if (message.type === "done" && this.#current === sentence.context) this.#current = undefined;
        sentence.stream.end();
        return;
      case "ignored":
        return;
    }
  }

  /** A message for a context no sentence is reading: late audio of a cancelled one, or unknown. */
  #notSpeaking(message: Exclude<CartesiaMessage, { type: "error" }>): void {
    const id = message.contextId;
    if (id !== undefined && this.#cancelled.has(id)) {
      if (message.type === "chunk") this.#stats.droppedAfterCancel++;
      return;
    }
    if (id !== undefined && (this.#finished.has(id) || this.#current?.id === id)) {
      if (message.type === "chunk") this.#stats.droppedAfterCancel++;
      return;
    }
    this.#stats.unknownContext++;
    this.#reporter().reportOnce(
      "unknown-context",
      () =>
        `${this.name}: Cartesia sent a "${message.type}" for context ${JSON.stringify(quoteProvider(id ?? "?", 80))}, which is not being spoken; dropped`,
      "warn",
    );
  }

  #onError(message: Extract<CartesiaMessage, { type: "error" }>, sentence: Sentence | undefined): void {
    const said = quoteProvider(message.error);
    if (sentence) {
      if (this.#current === sentence.context) this.#current = undefined;
      this.#cancelled.add(sentence.context.id);
      sentence.stream.fail(
        new TTSProviderError(
          this.name,
          `${this.name}: Cartesia refused "${previewText(sentence.text)}": ${said}. Check the voice, model, language and sample rate`,
          said,
        ),
      );
      return;
    }
    if (message.contextId !== undefined && this.#cancelled.has(message.contextId)) return;
    this.#reporter().reportOnce("provider-error", () => `${this.name}: Cartesia reported an error: ${said}`);
  }

  #onDisconnect(code: number, reason: string): void {
    this.#current = undefined;
    this.#reading?.stream.fail(
      new TTSProviderError(
        this.name,
        `${this.name}: the connection to Cartesia was lost (code ${code}${reason ? `, ${quoteProvider(reason, 80)}` : ""}) ` +
          `while speaking "${previewText(this.#reading.text)}"; the sentence was abandoned and the next one goes on a new connection`,
      ),
    );
  }

  #onFailure(error: ProviderSocketError, afterOpen: boolean): void {
    this.#reading?.stream.fail(error);
    // A failure before the first open is connect()'s to report (the start is fatal there).
    if (afterOpen) void this.fail(error);
  }

  #malformed(cause: string, what: string): void {
    this.#stats.malformed++;
    this.#reporter().reportOnce(`malformed:${cause}`, () => `${this.name}: Cartesia sent ${what}`, "warn");
  }

  #reporter(): RepeatReporter {
    return (this.#repeats ??= new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => this.clock.now(),
    }));
  }
}
