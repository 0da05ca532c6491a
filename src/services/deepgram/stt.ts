import { MissingApiKeyError } from "../stt/stt-errors.js";
import { positiveMs } from "../stt/stt-service-options.js";
import {
  type STTConnectInfo,
  type STTDisconnectInfo,
  STTService,
  type STTServiceOptions,
} from "../stt/stt-service.js";
import { ProviderSocket } from "../websocket/provider-socket.js";
import { type STTEndOfTurnCause, STTEndOfTurnFrame } from "../../frames/turn.js";
import type { ProviderSocketOptions } from "../websocket/provider-socket-options.js";
import { parseListenMessage } from "./stt-messages.js";
import { nonEmpty } from "../non-empty.js";
import { providerBaseUrl } from "../provider-base-url.js";

/** Deepgram's public endpoint; `DEEPGRAM_BASE_URL` or `baseUrl` replace it (a proxy, a region, a test server). */
export const DEEPGRAM_DEFAULT_BASE_URL = "wss://api.deepgram.com";

const KEEP_ALIVE = '{"type":"KeepAlive"}';
const FINALIZE = '{"type":"Finalize"}';
const CLOSE_STREAM = '{"type":"CloseStream"}';

/** Options of {@link DeepgramSTTService}; query parameters follow Deepgram's `/v1/listen` names. */
export interface DeepgramSTTOptions extends STTServiceOptions {
  /** API key, sent as `Authorization: Token <key>`. @default `process.env.DEEPGRAM_API_KEY` */
  apiKey?: string;
  /**
   * Scheme and host; `/v1/listen` is appended. @default `process.env.DEEPGRAM_BASE_URL`, else
   * `wss://api.deepgram.com`
   */
  baseUrl?: string;
  /** Where the key and base URL are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** @default "nova-3-general" */
  model?: string;
  /** @default "en" */
  language?: string;
  /** Interim (non-final) results. @default true */
  interimResults?: boolean;
  /** @default true */
  punctuate?: boolean;
  /** @default false */
  smartFormat?: boolean;
  /** @default true */
  profanityFilter?: boolean;
  /** ms of silence that marks `speech_final`; `false` turns endpointing off. @default Deepgram's (10) */
  endpointing?: number | false;
  /** Enables `UtteranceEnd` messages (needs interim results; ≥ 1000 recommended). @default off */
  utteranceEndMs?: number;
  /** Key terms to boost (nova-3), one `keyterm` parameter each. */
  keyterms?: readonly string[];
  /** Any other documented query parameter (`{ diarize: "true", keywords: ["a:2", "b"] }`). */
  query?: Readonly<Record<string, string | readonly string[]>>;
  /**
   * `KeepAlive` is sent when nothing was sent for this long (muted, no audio); Deepgram closes
   * after 10 s without data. @default 5000
   */
  keepAliveIntervalMs?: number;
  /** Reconnect, connect-timeout and ping settings of the socket (docs/design/provider-socket.md). */
  socket?: Pick<ProviderSocketOptions, "backoff" | "connectTimeoutMs" | "stableAfterMs" | "ping">;
}

/**
 * Deepgram live transcription over its WebSocket (`/v1/listen`), without the SDK: raw linear16
 * mono audio at the service's rate, interim and final `Results`, `Finalize` on the user's stop,
 * `KeepAlive` (a text frame) when no audio goes out, `CloseStream` at the end with the last results
 * delivered before the task ends. Reconnects are the {@link ProviderSocket}'s: audio sent while it
 * reconnects is dropped and counted (`stats.audioDroppedMs`), never replayed late. A rejected key
 * is one clear error naming `DEEPGRAM_API_KEY`. See docs/design/stt-services.md.
 *
 * @example
 * const stt = new DeepgramSTTService({ model: "nova-3-general", language: "en" });
 * const pipeline = new Pipeline([transport.input(), vad, stt, userAggregator, llm, tts, transport.output()]);
 */
export class DeepgramSTTService extends STTService {
  readonly #apiKey: string | undefined;
  readonly #baseUrl: string;
  readonly #options: DeepgramSTTOptions;
  #socket: ProviderSocket | undefined;
  /** Words were transcribed since the last end-of-turn this service passed on. */
  #wordsSinceEndOfTurn = false;

  constructor(options: DeepgramSTTOptions = {}) {
    super({ ...options, model: options.model ?? "nova-3-general", language: options.language ?? "en" });
    this.#options = options;
    // Checked here, where the option was written, not at start (the socket's own checks) or by
    // the provider's 400 (the query).
    if (options.endpointing !== undefined && options.endpointing !== false)
      positiveMs(this.name, "endpointing", options.endpointing, 0);
    if (options.utteranceEndMs !== undefined)
      positiveMs(this.name, "utteranceEndMs", options.utteranceEndMs, 0);
    if (options.keepAliveIntervalMs !== undefined)
      positiveMs(this.name, "keepAliveIntervalMs", options.keepAliveIntervalMs, 0);
    if (options.socket?.connectTimeoutMs !== undefined)
      positiveMs(this.name, "socket.connectTimeoutMs", options.socket.connectTimeoutMs, 0);
    const env = options.env ?? process.env;
    this.#apiKey = options.apiKey ?? nonEmpty(env["DEEPGRAM_API_KEY"]);
    this.#baseUrl = providerBaseUrl(
      this.name,
      options.baseUrl,
      "DEEPGRAM_BASE_URL",
      DEEPGRAM_DEFAULT_BASE_URL,
      env,
    );
  }

  /** The socket's counters (reconnects, keep-alives, dropped sends), once started. */
  get socketStats(): ProviderSocket["stats"] | undefined {
    return this.#socket?.stats;
  }

  /** The URL the service connects to, query included (the key is in a header, never here). */
  listenUrl(sampleRate: number): string {
    return `${this.#baseUrl}/v1/listen?${this.#query(sampleRate)}`;
  }

  protected override async connect({ sampleRate }: STTConnectInfo): Promise<void> {
    if (this.#apiKey === undefined) throw new MissingApiKeyError(this.name, "DEEPGRAM_API_KEY", "transcribe");
    const key = this.#apiKey;
    const socket = new ProviderSocket({
      ...this.#options.socket,
      service: this.name,
      clock: this.clock,
      logger: this.logger,
      url: this.listenUrl(sampleRate),
      headers: { Authorization: `Token ${key}` },
      apiKeyEnv: "DEEPGRAM_API_KEY",
      baseUrlEnv: "DEEPGRAM_BASE_URL",
      keepAlive: { message: KEEP_ALIVE, intervalMs: this.#options.keepAliveIntervalMs ?? 5_000 },
      endOfStream: CLOSE_STREAM,
      closeTimeoutMs: this.settings.closeTimeoutMs,
      onMessage: (data, isBinary) => this.#onMessage(data, isBinary),
      onFailure: (error) => this.fail(error),
    });
    this.#socket = socket;
    // A failure reaches onFailure; a close first (the task cancelled) is no failure.
    await socket.start().catch(() => {});
  }

  protected override sendAudio(audio: Int16Array): boolean {
    const socket = this.#socket;
    if (!socket) return false;
    return socket.send(Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength));
  }

  protected override finalize(): boolean {
    return this.#socket?.send(FINALIZE) ?? false;
  }

  protected override async disconnect({ timeoutMs }: STTDisconnectInfo): Promise<void> {
    // Both ways send CloseStream (Deepgram stops billing at once); only the wait differs.
    await this.#socket?.close({ timeoutMs });
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.reportMalformed(
        "binary",
        () =>
          `${this.name}: Deepgram sent a binary message (${data.length} bytes); it sends only JSON text, so it was ignored`,
      );
      return;
    }
    const message = parseListenMessage(data.toString("utf8"));
    if ("cause" in message) {
      this.reportMalformed(
        message.cause,
        () => `${this.name}: Deepgram sent ${message.what}; it was ignored`,
      );
      return;
    }
    switch (message.type) {
      case "Results":
        this.handleTranscript({
          text: message.transcript,
          isFinal: message.isFinal,
          fromFinalize: message.fromFinalize,
          language: message.language,
        });
        if (message.transcript.trim() !== "") this.#wordsSinceEndOfTurn = true;
        // speech_final comes on a final: pushed after it, so the turn's words are in first.
        if (message.isFinal && message.speechFinal) this.#endOfTurn("speech_final");
        return;
      case "Metadata":
        this.logger.debug(`${this.name}: stream summary received (request ${message.requestId ?? "?"})`, {
          processor: this.name,
        });
        return;
      case "UtteranceEnd":
        this.#endOfTurn("utterance_end");
        return;
      case "SpeechStarted":
        return;
      case "Other":
        // One report per kind of problem, not per name a server makes up.
        this.reportMalformed(message.error === undefined ? "unknown-type" : "provider-error", () =>
          message.error === undefined
            ? `${this.name}: Deepgram sent a message of type "${message.name}", which this service does not know; ignored`
            : `${this.name}: Deepgram reported an error: ${message.error}`,
        );
    }
  }

  /**
   * Passes Deepgram's end of utterance on as an `STTEndOfTurnFrame` (a proposal the turn
   * strategies decide on), once per utterance: `UtteranceEnd` after a `speech_final` for the
   * same words, or either with no words since the last one, says nothing new, and a late
   * duplicate must not end the user's next turn.
   */
  #endOfTurn(cause: STTEndOfTurnCause): void {
    if (!this.#wordsSinceEndOfTurn) return;
    this.#wordsSinceEndOfTurn = false;
    void this.pushFrame(new STTEndOfTurnFrame(cause, this.clock.now()));
  }

  #query(sampleRate: number): string {
    const o = this.#options;
    const q = new URLSearchParams({
      model: this.settings.model ?? "nova-3-general",
      language: this.settings.language ?? "en",
      encoding: "linear16",
      sample_rate: String(sampleRate),
      channels: "1",
      interim_results: String(o.interimResults ?? true),
      punctuate: String(o.punctuate ?? true),
      smart_format: String(o.smartFormat ?? false),
      profanity_filter: String(o.profanityFilter ?? true),
    });
    if (o.endpointing !== undefined) q.set("endpointing", String(o.endpointing));
    if (o.utteranceEndMs !== undefined) q.set("utterance_end_ms", String(o.utteranceEndMs));
    for (const term of o.keyterms ?? []) q.append("keyterm", term);
    for (const [name, value] of Object.entries(o.query ?? {})) {
      q.delete(name);
      for (const v of typeof value === "string" ? [value] : value) q.append(name, v);
    }
    return q.toString();
  }
}
