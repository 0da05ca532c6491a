import { InvalidOptionError } from "../../errors.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import { PcmStreamReader } from "../tts/pcm-stream-reader.js";
import { TTSService, type TTSServiceOptions } from "../tts/tts-service.js";
import { OpenAIAudioError, connectionError, missingKeyError, reportRetry } from "./openai-audio-error.js";
import type { FetchFunction } from "../http/http-fetch.js";
import { type OpenAIEndpointOptions, resolveOpenAIEndpoint } from "./openai-endpoint.js";
import { postOpenAI } from "./openai-request.js";

/** The rate of OpenAI's `pcm` response format, in Hz (s16le mono, no header). */
export const OPENAI_TTS_SAMPLE_RATE = 24_000;

/** Options of {@link OpenAITTSService}. */
export interface OpenAITTSServiceOptions extends TTSServiceOptions, OpenAIEndpointOptions {
  /** `tts-1`, `tts-1-hd`, `gpt-4o-mini-tts`, … @default "gpt-4o-mini-tts" */
  model?: string;
  /** `alloy`, `ash`, `ballad`, `coral`, `echo`, `sage`, `shimmer`, `verse`, `marin`, `cedar`, … @default "alloy" */
  voice?: string;
  /** How to speak ("Warm, brisk."); not for `tts-1` models. */
  instructions?: string;
  /** Speaking rate, from 0.25 to 4.0. @default the endpoint's (1.0) */
  speed?: number;
}

/**
 * Text to speech on OpenAI's speech endpoint (`POST {baseURL}/audio/speech`), raw HTTP, no SDK
 * (docs/design/tts-services.md, "OpenAI speech"). Each sentence is one request with
 * `response_format: "pcm"` (24 kHz s16le mono); the body is read as it arrives and each chunk
 * becomes audio at once, a sample split across two chunks carried over. Interruption, cancel and a
 * stall abort the request. The key comes from `apiKey` or `OPENAI_API_KEY`, the endpoint from
 * `baseURL` or `OPENAI_BASE_URL`.
 *
 * Failures: no key is a fatal error at start naming `OPENAI_API_KEY`; a rejected key (401/403) is
 * said once, and every later sentence fails at once without a request (counted). A 5xx, 408, 409
 * or a refused connection is tried once more at once; a 429 is reported and the next sentence
 * tries again.
 *
 * @example
 * const tts = new OpenAITTSService({ voice: "marin", instructions: "Warm, brisk." }); // key from OPENAI_API_KEY
 */
export class OpenAITTSService extends TTSService {
  readonly #model: string;
  readonly #voice: string;
  readonly #instructions: string | undefined;
  readonly #speed: number | undefined;
  readonly #apiKey: string | undefined;
  readonly #fetch: FetchFunction;
  /** The endpoint in use (`/audio/speech` is appended). */
  readonly baseURL: string;
  /** Set once the endpoint rejected the key: nothing more is asked of it. */
  #rejected: OpenAIAudioError | undefined;
  #retries: RepeatReporter | undefined;

  constructor(options: OpenAITTSServiceOptions = {}) {
    super(options);
    const endpoint = resolveOpenAIEndpoint(this.name, options);
    this.#apiKey = endpoint.apiKey;
    this.#fetch = endpoint.fetch;
    this.baseURL = endpoint.baseURL;
    this.#model = text(this.name, "model", options.model) ?? "gpt-4o-mini-tts";
    this.#voice = text(this.name, "voice", options.voice) ?? "alloy";
    this.#instructions = text(this.name, "instructions", options.instructions);
    const speed = options.speed;
    if (speed !== undefined && (typeof speed !== "number" || !(speed >= 0.25 && speed <= 4))) {
      throw new InvalidOptionError(
        `${this.name}: speed must be a number from 0.25 to 4.0 (got ${String(speed)})`,
      );
    }
    this.#speed = speed;
  }

  protected override get engineSampleRate(): number {
    return OPENAI_TTS_SAMPLE_RATE;
  }

  protected override get model(): string {
    return this.#model;
  }

  protected override connect(): void {
    if (this.#apiKey === undefined) throw missingKeyError(this.name, "speak");
  }

  protected override disconnect(): void {
    this.#retries?.flush();
  }

  protected override async *synthesize(input: string, signal: AbortSignal): AsyncGenerator<Int16Array> {
    if (this.#rejected) throw this.#rejected;
    let response: Response;
    try {
      response = await postOpenAI({
        service: this.name,
        clock: this.clock,
        baseURL: this.baseURL,
        model: this.#model,
        apiKey: this.#apiKey!,
        fetch: this.#fetch,
        path: "/audio/speech",
        body: JSON.stringify(this.#request(input)),
        contentType: "application/json",
        signal,
        onRetry: (error) => this.#retried(error),
      });
    } catch (error) {
      if (error instanceof OpenAIAudioError && error.permanent) this.#rejected = error;
      throw error;
    }
    const type = response.headers.get("content-type") ?? "";
    if (/json|html|text\//iu.test(type)) {
      await response.body?.cancel().catch(() => {});
      throw new OpenAIAudioError(
        this.name,
        "malformed",
        `${this.name}: ${this.baseURL} answered with ${type}, not raw PCM audio; check OPENAI_BASE_URL points at an OpenAI-compatible speech endpoint`,
      );
    }
    const reader = new PcmStreamReader(`the speech from ${this.baseURL}`, {
      sampleRate: OPENAI_TTS_SAMPLE_RATE,
      numChannels: 1,
    });
    const body = response.body;
    if (!body) return;
    try {
      for await (const bytes of body) {
        const audio = reader.push(bytes);
        if (audio.length > 0) yield audio;
      }
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw connectionError(this.name, this.baseURL, error, "reading");
    } finally {
      // Stopped early (interruption, a deadline): let go of the connection now.
      await body.cancel().catch(() => {});
    }
    reader.end();
  }

  #request(input: string): Record<string, unknown> {
    return {
      model: this.#model,
      input,
      voice: this.#voice,
      response_format: "pcm",
      ...(this.#instructions === undefined ? {} : { instructions: this.#instructions }),
      ...(this.#speed === undefined ? {} : { speed: this.#speed }),
    };
  }

  #retried(error: OpenAIAudioError): void {
    this.#retries ??= new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => this.clock.now(),
    });
    reportRetry(this.#retries, error);
  }
}

function text(owner: string, setting: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new InvalidOptionError(
      `${owner}: ${setting} must be a non-empty string (got ${JSON.stringify(value)})`,
    );
  }
  return value;
}
