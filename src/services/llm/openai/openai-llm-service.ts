import type OpenAI from "openai";
import type { ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import { deadline } from "../../../clock/deadline.js";
import { toOpenAIRequest } from "../../../context/adapters/openai.js";
import type { ConversionOptions } from "../../../context/adapters/common.js";
import type { JsonObject } from "../../../context/json.js";
import { type FetchFunction, httpFetch } from "../../http/http-fetch.js";
import { LLMService, type LLMServiceOptions } from "../llm-service.js";
import { LLMServiceError } from "../llm-service-error.js";
import { InvalidOptionError } from "../../../errors.js";
import type { LLMCompletionRequest, LLMStreamEvent } from "../llm-stream.js";
import { describeOpenAIError } from "./describe-openai-error.js";
import { type OpenAIModule, loadOpenAI } from "./load-openai.js";
import { nonEmpty } from "../../non-empty.js";
import { resolveOpenAIEndpoint } from "../../openai-audio/openai-endpoint.js";
import { readOpenAIChunk } from "./openai-chunk.js";
import { openAIStreamFetch } from "./openai-stream-fetch.js";

/** Options of {@link OpenAILLMService}. */
export interface OpenAILLMServiceOptions extends LLMServiceOptions {
  /** The model. @default "gpt-4.1-mini" */
  model?: string;
  /** The API key. @default process.env.OPENAI_API_KEY */
  apiKey?: string;
  /**
   * The endpoint, as the OpenAI SDK means it: the URL `/chat/completions` is appended to, e.g.
   * `https://api.openai.com/v1`, or an OpenAI-compatible server (`http://localhost:11434/v1` for
   * Ollama, vLLM, Groq…). @default process.env.OPENAI_BASE_URL, else `https://api.openai.com/v1`
   */
  baseURL?: string;
  /**
   * Ask for the token counts (`stream_options: { include_usage: true }`), reported as a `usage`
   * metric. Turn it off for OpenAI-compatible servers that refuse the field. @default true
   */
  includeUsage?: boolean;
  /**
   * With `includeUsage`, how long the answer waits for the usage chunk after the chunk with
   * `finish_reason`, in ms. OpenAI sends it at once; a compatible server that ignores
   * `stream_options` never does: its answer is finished when the body ends, or, when the body is
   * held open, past this, without a usage metric (said once). The wait cannot be longer than this whatever the body does
   * (docs/design/llm-services.md, "The end of an answer"). @default 100
   */
  usageGraceMs?: number;
  /**
   * More fields of the request body, sent as they are (e.g. `{ temperature: 0.3,
   * max_completion_tokens: 300 }`). `model`, `messages`, `tools`, `tool_choice`, `stream` and
   * `stream_options` are the service's and cannot be set here.
   */
  params?: JsonObject;
  /** How the context is converted (e.g. an `interruptedNote`). */
  conversion?: ConversionOptions;
  /** Where the key and base URL are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * The `fetch` the SDK sends its requests with. The default, `httpFetch`, sends them on
   * `node:http(s)` with a keep-alive agent per process: Node's own `fetch` costs 1–3 ms more per
   * request on the way to the first word and drops a connection idle for 4 s
   * (docs/design/llm-services.md, "The HTTP client"). Pass `globalThis.fetch`, or undici's `fetch`
   * with a proxy dispatcher, to use those instead. @default httpFetch
   */
  fetch?: FetchFunction;
}

/** Longest wait for the `openai` package to load, in ms. */
const LOAD_TIMEOUT_MS = 30_000;

/**
 * An LLM service on OpenAI chat completions, through the official `openai` SDK (an optional peer
 * dependency: `npm install openai@^6`), streamed. With `baseURL` it serves every
 * OpenAI-compatible server. Everything else (frames, interruption, stalls, retries, metrics) is
 * {@link LLMService}'s; see docs/design/llm-services.md.
 *
 * The SDK is loaded when the pipeline starts, not when this module is imported. A missing SDK,
 * a missing key (OPENAI_API_KEY) or a rejected one (HTTP 401/403) is one clear error and marks
 * the service unusable. The SDK's own retries are off: the service retries once itself, on the
 * task clock.
 *
 * @example
 * const llm = new OpenAILLMService({ model: "gpt-4.1-mini" }); // key from OPENAI_API_KEY
 * const pipeline = new Pipeline([transport.input(), stt, userAggregator, llm, tts, transport.output()]);
 */
export class OpenAILLMService extends LLMService {
  readonly model: string;
  /** The endpoint in use. */
  readonly baseURL: string;
  readonly #apiKey: string | undefined;
  readonly #organization: string | null;
  readonly #project: string | null;
  readonly #includeUsage: boolean;
  readonly #usageGraceMs: number;
  readonly #params: JsonObject;
  readonly #conversion: ConversionOptions;
  readonly #fetch: FetchFunction;
  #sdk: OpenAIModule | undefined;
  #client: OpenAI | undefined;

  constructor(options: OpenAILLMServiceOptions = {}) {
    super(options);
    const env = options.env ?? process.env;
    this.model = options.model ?? "gpt-4.1-mini";
    // Checked here, as every OpenAI service does: a base URL that is not http(s) is said when the
    // bot is built, not at its first request. The SDK is always given the URL resolved from
    // `env`, so it never reads `process.env` behind an `env` option.
    const endpoint = resolveOpenAIEndpoint(this.name, {
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
      env,
      fetch: options.fetch ?? httpFetch,
    });
    this.#apiKey = endpoint.apiKey;
    this.baseURL = endpoint.baseURL;
    // The SDK reads these two from process.env itself when they are not given: from `env` instead.
    this.#organization = nonEmpty(env["OPENAI_ORG_ID"]) ?? null;
    this.#project = nonEmpty(env["OPENAI_PROJECT_ID"]) ?? null;
    this.#includeUsage = options.includeUsage ?? true;
    this.#usageGraceMs = options.usageGraceMs ?? 100;
    if (!Number.isFinite(this.#usageGraceMs) || this.#usageGraceMs < 0) {
      throw new InvalidOptionError(
        `${this.name}: usageGraceMs must be a finite number of ms ≥ 0 (got ${String(options.usageGraceMs)})`,
      );
    }
    this.#params = options.params ?? {};
    this.#conversion = options.conversion ?? {};
    this.#fetch = endpoint.fetch;
  }

  protected override async connect(): Promise<void> {
    if (!this.#apiKey) {
      throw new LLMServiceError(
        this.name,
        "missing-key",
        `${this.name}: OPENAI_API_KEY is not set: set it to your OpenAI API key, or pass the apiKey option ` +
          "(an OpenAI-compatible server that needs no key takes any non-empty string)",
      );
    }
    const sdk = await deadline(
      this.clock,
      loadOpenAI(this.name),
      LOAD_TIMEOUT_MS,
      `${this.name}: loading the openai package`,
      {
        io: true,
      },
    );
    this.#sdk = sdk;
    const name = this.name;
    const log = (message: string): void =>
      this.logger.debug(`${name}: openai SDK: ${message}`, { processor: name });
    this.#client = new sdk.OpenAI({
      apiKey: this.#apiKey,
      baseURL: this.baseURL,
      organization: this.#organization,
      project: this.#project,
      maxRetries: 0, // the base class retries, on the task clock
      fetch: openAIStreamFetch(this.#fetch), // refuses a page that is not a stream, and an endless event
      // What the SDK logs (a chunk it cannot parse…) is reported by the service itself.
      logger: { error: log, warn: log, info: log, debug: log },
    });
  }

  protected override async *streamCompletion(request: LLMCompletionRequest): AsyncIterable<LLMStreamEvent> {
    const client = this.#client;
    if (!client) throw new Error(`${this.name}: streamCompletion called before connect`);
    const body = {
      ...this.#params,
      ...toOpenAIRequest(request.context, this.#conversion),
      model: this.model,
      stream: true,
      ...(this.#includeUsage ? { stream_options: { include_usage: true } } : {}),
    } as ChatCompletionCreateParamsStreaming; // our message types are a subset of the SDK's
    const stream = await client.chat.completions.create(body, { signal: request.signal });
    let finished = false;
    let usage = false;
    for await (const chunk of stream) {
      if (finished && usage) continue; // the body's end, read (by the base, off the answer's path) so the connection is pooled
      const read = readOpenAIChunk(chunk);
      yield* read.events;
      usage ||= read.events.some((e) => e.type === "usage");
      if (read.finished && !finished) {
        finished = true;
        // The answer is complete at finish_reason: the SDK swallows [DONE] and reads on to the
        // end of the body, which a server or proxy may hold open. Only the usage chunk, when
        // asked for and not here yet, is worth a short wait.
        const awaitUsage = this.#includeUsage && !usage && this.#usageGraceMs > 0;
        yield { type: "complete", usageWithinMs: awaitUsage ? this.#usageGraceMs : undefined };
        if (!awaitUsage) usage = true;
      }
    }
    // The SDK ends quietly when the connection closes early; an answer without a finish
    // reason was cut off.
    if (!finished && !request.signal.aborted) {
      throw new LLMServiceError(
        this.name,
        "connection",
        `${this.name}: ${this.baseURL} closed the stream before the answer was finished (no finish_reason)`,
      );
    }
  }

  protected override describeError(error: unknown): LLMServiceError {
    return describeOpenAIError(this.#sdk, this.name, { baseURL: this.baseURL, model: this.model }, error);
  }
}
