import { writeWav } from "../../audio/wav.js";
import { InvalidOptionError } from "../../errors.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import {
  type SegmentInfo,
  SegmentedSTTService,
  type SegmentedSTTServiceOptions,
} from "../stt/segmented-stt-service.js";
import type { TranscriptResult } from "../stt/stt-service-options.js";
import { OpenAIAudioError, connectionError, missingKeyError, reportRetry } from "./openai-audio-error.js";
import type { FetchFunction } from "../http/http-fetch.js";
import { type OpenAIEndpointOptions, resolveOpenAIEndpoint } from "./openai-endpoint.js";
import { postOpenAI } from "./openai-request.js";
import { readBody } from "./read-body.js";

/** Largest transcription answer read, in bytes (a transcript of a 30 s segment is a few hundred). */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** Options of {@link OpenAISTTService}. */
export interface OpenAISTTServiceOptions extends SegmentedSTTServiceOptions, OpenAIEndpointOptions {
  /** `gpt-4o-transcribe`, `gpt-4o-mini-transcribe`, `whisper-1`, … @default "gpt-4o-transcribe" */
  model?: string;
  /**
   * Language of the speech (BCP-47; its first part, ISO-639-1, is sent: `en-GB` → `en`). Sent
   * with every request; also the language of the transcripts. @default none (the model detects it)
   */
  language?: string;
  /** A hint of style or vocabulary for the model (`prompt`). */
  prompt?: string;
  /** Sampling temperature, from 0 to 1. @default the endpoint's */
  temperature?: number;
}

/**
 * Speech to text on OpenAI's transcription endpoint (`POST {baseURL}/audio/transcriptions`), raw
 * HTTP, no SDK (docs/design/stt-services.md, "OpenAI transcription"). Segmented: each utterance
 * (VAD start to stop, with the preroll before it, at most `maxSegmentMs`) is sent as one WAV file
 * (mono PCM16 at the service's rate) in a multipart form, and the answer's `text` becomes one
 * `TranscriptionFrame`. The key comes from `apiKey` or `OPENAI_API_KEY`, the endpoint from
 * `baseURL` or `OPENAI_BASE_URL`.
 *
 * Failures: no key, or a rejected one (401/403), is one error naming `OPENAI_API_KEY` (fatal
 * unless `fatalOnFailure: false`), and the service asks nothing more. A 5xx, 408, 409 or a refused
 * connection is tried once more at once; anything else fails that utterance, said once per kind
 * and counted. Each request is bounded by `requestTimeoutMs`.
 *
 * @example
 * const stt = new OpenAISTTService({ model: "gpt-4o-transcribe", language: "en" }); // key from OPENAI_API_KEY
 * const pipeline = new Pipeline([transport.input(), vad, stt, userTurns, userAggregator, llm, tts, transport.output()]);
 */
export class OpenAISTTService extends SegmentedSTTService {
  /** The endpoint in use (`/audio/transcriptions` is appended). */
  readonly baseURL: string;
  readonly #apiKey: string | undefined;
  readonly #fetch: FetchFunction;
  readonly #model: string;
  readonly #language: string | undefined;
  readonly #prompt: string | undefined;
  readonly #temperature: number | undefined;
  #retries: RepeatReporter | undefined;

  constructor(options: OpenAISTTServiceOptions = {}) {
    const model = options.model ?? "gpt-4o-transcribe";
    super({ ...options, model });
    const endpoint = resolveOpenAIEndpoint(this.name, options);
    this.baseURL = endpoint.baseURL;
    this.#apiKey = endpoint.apiKey;
    this.#fetch = endpoint.fetch;
    if (typeof model !== "string" || model.trim() === "") {
      throw new InvalidOptionError(
        `${this.name}: model must be a non-empty string (got ${JSON.stringify(model)})`,
      );
    }
    this.#model = model;
    const language = options.language;
    if (language !== undefined && (typeof language !== "string" || !/^[a-z]{2,3}(-|$)/iu.test(language))) {
      throw new InvalidOptionError(
        `${this.name}: language must be a BCP-47 tag starting with an ISO-639 code, such as "en" or "en-GB" (got ${JSON.stringify(language)})`,
      );
    }
    this.#language = language?.split("-")[0]!.toLowerCase();
    if (options.prompt !== undefined && typeof options.prompt !== "string") {
      throw new InvalidOptionError(`${this.name}: prompt must be a string (got ${typeof options.prompt})`);
    }
    this.#prompt = options.prompt;
    const temperature = options.temperature;
    if (
      temperature !== undefined &&
      (typeof temperature !== "number" || !(temperature >= 0 && temperature <= 1))
    ) {
      throw new InvalidOptionError(
        `${this.name}: temperature must be a number from 0 to 1 (got ${String(temperature)})`,
      );
    }
    this.#temperature = temperature;
  }

  protected override async connect(): Promise<void> {
    if (this.#apiKey === undefined) throw missingKeyError(this.name, "transcribe");
  }

  protected override async transcribe(
    audio: Int16Array,
    { sampleRate, signal }: SegmentInfo,
  ): Promise<TranscriptResult | undefined> {
    if (!this.usable) return undefined; // the key was refused: ask nothing more
    let response: Response;
    try {
      response = await postOpenAI({
        service: this.name,
        clock: this.clock,
        baseURL: this.baseURL,
        model: this.#model,
        apiKey: this.#apiKey!,
        fetch: this.#fetch,
        path: "/audio/transcriptions",
        ...(await this.#form(audio, sampleRate)),
        signal,
        onRetry: (error) => this.#retried(error),
      });
    } catch (error) {
      if (error instanceof OpenAIAudioError && error.permanent) {
        this.fail(error);
        return undefined;
      }
      throw error;
    }
    let answer: { text: string; truncated: boolean };
    try {
      answer = await readBody(response, MAX_ANSWER_BYTES);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw connectionError(this.name, this.baseURL, error, "reading");
    }
    const text = answer.truncated ? undefined : transcriptOf(answer.text);
    if (text === undefined) {
      const start = answer.text.slice(0, 80).replace(/\s+/gu, " ");
      throw new OpenAIAudioError(
        this.name,
        "malformed",
        `${this.name}: the answer from ${this.baseURL} is not a transcription ` +
          (answer.truncated
            ? `(over ${MAX_ANSWER_BYTES} bytes)`
            : `(expected JSON with a "text" string; it starts ${JSON.stringify(start)})`) +
          "; that utterance is not transcribed",
      );
    }
    return { text, isFinal: true };
  }

  /**
   * The request's multipart form, encoded to bytes by the platform's own encoder (`Response` over a
   * `FormData`): bytes are what `httpFetch` sends itself (it hands a `FormData` to Node's fetch),
   * and what a retry can send again.
   */
  async #form(audio: Int16Array, sampleRate: number): Promise<{ body: Uint8Array; contentType: string }> {
    const form = new FormData();
    form.append("file", new Blob([writeWav({ audio, sampleRate })], { type: "audio/wav" }), "audio.wav");
    form.append("model", this.#model);
    form.append("response_format", "json");
    if (this.#language !== undefined) form.append("language", this.#language);
    if (this.#prompt !== undefined) form.append("prompt", this.#prompt);
    if (this.#temperature !== undefined) form.append("temperature", String(this.#temperature));
    const encoded = new Response(form);
    return {
      body: new Uint8Array(await encoded.arrayBuffer()),
      contentType: encoded.headers.get("content-type")!,
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

/** The `text` of a `json` (or `verbose_json`) answer; undefined when it is not one. */
function transcriptOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { text?: unknown } | null;
    return parsed !== null && typeof parsed === "object" && typeof parsed.text === "string"
      ? parsed.text.trim()
      : undefined;
  } catch {
    return undefined;
  }
}
