import type { ConversionOptions } from "../../context/adapters/common.js";
import { toAnthropicRequest } from "../../context/adapters/anthropic.js";
import type { JsonObject } from "../../context/json.js";
import { InvalidOptionError } from "../../errors.js";
import { resolveBaseUrl } from "../http/base-url.js";
import { postEventStream } from "../http/event-stream.js";
import { type FetchFunction, httpFetch } from "../http/http-fetch.js";
import { LLMService, type LLMServiceOptions } from "../llm/llm-service.js";
import { LLMServiceError } from "../llm/llm-service-error.js";
import type { LLMCompletionRequest, LLMStreamEvent } from "../llm/llm-stream.js";
import { AnthropicStreamTranslator } from "./anthropic-stream.js";
import { describeAnthropicError } from "./describe-anthropic-error.js";

/** Anthropic's API, when neither the option nor ANTHROPIC_BASE_URL says otherwise. */
const DEFAULT_BASE_URL = "https://api.anthropic.com";
/** The Messages API version this service speaks. */
const ANTHROPIC_VERSION = "2023-06-01";

/** Options of {@link AnthropicLLMService}. */
export interface AnthropicLLMServiceOptions extends LLMServiceOptions {
  /** The model. @default "claude-haiku-4-5" */
  model?: string;
  /** The API key, sent as `x-api-key`. @default process.env.ANTHROPIC_API_KEY */
  apiKey?: string;
  /**
   * The endpoint: the scheme and host (or a proxy's URL prefix) `/v1/messages` is appended to.
   * @default process.env.ANTHROPIC_BASE_URL, else `https://api.anthropic.com`
   */
  baseUrl?: string;
  /** The most tokens an answer may have (`max_tokens`, which Anthropic requires). @default 1024 */
  maxTokens?: number;
  /**
   * More fields of the request body, sent as they are (e.g. `{ temperature: 0.3 }`). `model`,
   * `max_tokens`, `system`, `messages`, `tools`, `tool_choice` and `stream` are the service's.
   */
  params?: JsonObject;
  /** More request headers, e.g. `{ "anthropic-beta": "…" }`. */
  headers?: Readonly<Record<string, string>>;
  /** How the context is converted (e.g. an `interruptedNote`). */
  conversion?: ConversionOptions;
  /** Where the key and base URL are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * The `fetch` the requests are sent with. The default, `httpFetch`, sends them on
   * `node:http(s)` with a keep-alive agent per process: Node's own `fetch` costs 1–3 ms more per
   * request on the way to the first word and drops a connection idle for 4 s
   * (docs/design/llm-services.md, "The HTTP client"). Pass `globalThis.fetch`, or undici's `fetch`
   * with a proxy dispatcher, to use those instead. @default httpFetch
   */
  fetch?: FetchFunction;
}

/**
 * An LLM service on the Anthropic Messages API, streamed (`POST /v1/messages`, `stream: true`),
 * over HTTP (`httpFetch` unless the `fetch` option names another) with no SDK to install.
 * Everything else (frames, interruption, stalls, the one retry, metrics) is {@link LLMService}'s;
 * see docs/design/llm-services.md.
 *
 * A missing key (ANTHROPIC_API_KEY) or a rejected one (HTTP 401/403) is one clear error and marks
 * the service unusable. Anthropic's `overloaded_error` (HTTP 529, or an `error` event before the
 * answer began) is retried once, then reported.
 *
 * Extended thinking (`params: { thinking: { type: "enabled", budget_tokens } }`) works with tools:
 * the thinking blocks of an answer that calls tools are kept on its message in the context and
 * sent back first and unchanged with its `tool_use` blocks, as Anthropic requires; thinking is
 * never spoken (docs/design/llm-services.md, "Extended thinking").
 *
 * @example
 * const llm = new AnthropicLLMService({ model: "claude-haiku-4-5" }); // key from ANTHROPIC_API_KEY
 */
export class AnthropicLLMService extends LLMService {
  readonly model: string;
  /** The endpoint in use (scheme and host, no trailing slash). */
  readonly baseUrl: string;
  /** The most tokens an answer may have. */
  readonly maxTokens: number;
  readonly #apiKey: string | undefined;
  readonly #params: JsonObject;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #conversion: ConversionOptions;
  readonly #fetch: FetchFunction;

  constructor(options: AnthropicLLMServiceOptions = {}) {
    super(options);
    const env = options.env ?? process.env;
    this.model = options.model ?? "claude-haiku-4-5";
    this.#apiKey = options.apiKey ?? (env["ANTHROPIC_API_KEY"]?.trim() || undefined);
    this.baseUrl = resolveBaseUrl(this.name, options.baseUrl, "ANTHROPIC_BASE_URL", env, DEFAULT_BASE_URL);
    this.maxTokens = options.maxTokens ?? 1024;
    if (!Number.isInteger(this.maxTokens) || this.maxTokens < 1) {
      throw new InvalidOptionError(
        `${this.name}: maxTokens must be a whole number ≥ 1 (got ${String(options.maxTokens)})`,
      );
    }
    this.#params = options.params ?? {};
    this.#headers = options.headers ?? {};
    this.#conversion = options.conversion ?? {};
    this.#fetch = options.fetch ?? httpFetch;
  }

  protected override connect(): void {
    if (!this.#apiKey) {
      throw new LLMServiceError(
        this.name,
        "missing-key",
        `${this.name}: ANTHROPIC_API_KEY is not set: set it to your Anthropic API key, or pass the apiKey option`,
      );
    }
  }

  protected override async *streamCompletion(request: LLMCompletionRequest): AsyncIterable<LLMStreamEvent> {
    const body = {
      ...this.#params,
      ...toAnthropicRequest(request.context, this.#conversion),
      model: this.model,
      max_tokens: this.maxTokens,
      stream: true,
    };
    const translator = new AnthropicStreamTranslator();
    const events = postEventStream({
      url: `${this.baseUrl}/v1/messages`,
      headers: {
        ...this.#headers,
        "x-api-key": this.#apiKey ?? "",
        "anthropic-version": ANTHROPIC_VERSION,
      },
      body,
      signal: request.signal,
      fetch: this.#fetch,
    });
    for await (const sse of events) {
      // After message_stop: the body's end, read (by the base, off the answer's path, bounded) so
      // the connection can be pooled. What it holds is not part of the answer.
      if (translator.finished) continue;
      yield* translator.translate(sse);
      if (translator.finished) yield { type: "complete" };
    }
    if (!translator.finished && !request.signal.aborted) {
      throw new LLMServiceError(
        this.name,
        "connection",
        `${this.name}: ${this.baseUrl} closed the stream before the answer was finished (no message_stop)`,
      );
    }
  }

  protected override describeError(error: unknown): LLMServiceError {
    return describeAnthropicError(this.name, { baseUrl: this.baseUrl, model: this.model }, error);
  }
}
