import type { ConversionOptions } from "../../context/adapters/common.js";
import { toGeminiRequest } from "../../context/adapters/gemini.js";
import type { JsonObject } from "../../context/json.js";
import type { LLMContextSnapshot } from "../../context/llm-context.js";
import type { LLMMessage } from "../../context/messages.js";
import { InvalidOptionError } from "../../errors.js";
import { resolveBaseUrl } from "../http/base-url.js";
import { postEventStream } from "../http/event-stream.js";
import { type FetchFunction, httpFetch } from "../http/http-fetch.js";
import { LLMService, type LLMServiceOptions } from "../llm/llm-service.js";
import { LLMServiceError } from "../llm/llm-service-error.js";
import type { LLMCompletionRequest, LLMStreamEvent } from "../llm/llm-stream.js";
import { describeGeminiError } from "./describe-gemini-error.js";
import { GeminiStreamTranslator } from "./gemini-stream.js";

/** The Gemini API, when neither the option nor GEMINI_BASE_URL says otherwise. */
const DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";
/**
 * Most thought signatures kept for calls the model made (a few per turn are used; the oldest go
 * first), so a long session holds a bounded number.
 */
export const MAX_KEPT_SIGNATURES = 256;

/** Options of {@link GeminiLLMService}. */
export interface GeminiLLMServiceOptions extends LLMServiceOptions {
  /** The model, e.g. `gemini-2.5-flash` (or `models/…`, `tunedModels/…`). @default "gemini-2.5-flash" */
  model?: string;
  /**
   * The API key, sent as `x-goog-api-key`. @default process.env.GOOGLE_API_KEY, else
   * process.env.GEMINI_API_KEY (Google's own libraries read both; GOOGLE_API_KEY wins)
   */
  apiKey?: string;
  /**
   * The endpoint: the scheme and host (or a proxy's URL prefix) that
   * `/<apiVersion>/models/<model>:streamGenerateContent?alt=sse` is appended to.
   * @default process.env.GEMINI_BASE_URL, else `https://generativelanguage.googleapis.com`
   */
  baseUrl?: string;
  /** The API version in the path. @default "v1beta" */
  apiVersion?: string;
  /**
   * More fields of the request body, sent as they are, e.g. `{ generationConfig: { temperature:
   * 0.3, maxOutputTokens: 300, thinkingConfig: { thinkingBudget: 0 } }, safetySettings: […] }`.
   * `contents`, `systemInstruction`, `tools` and `toolConfig` are the service's.
   */
  params?: JsonObject;
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

let requests = 0;

/**
 * An LLM service on Google Gemini's `streamGenerateContent` with `alt=sse`, over HTTP
 * (`httpFetch` unless the `fetch` option names another) with no SDK to install. Everything else
 * (frames, interruption, stalls, the one retry, metrics) is {@link LLMService}'s; see
 * docs/design/llm-services.md.
 *
 * Function calls arrive whole; a call without an id gets one made here. Thinking models attach a
 * `thoughtSignature` to their calls that must go back with them: the service keeps the
 * signatures of the calls it received (at most {@link MAX_KEPT_SIGNATURES}) and puts them back on
 * those calls when the context is sent again.
 *
 * A missing key (GOOGLE_API_KEY or GEMINI_API_KEY) or a rejected one (HTTP 401/403, or Google's
 * 400 `API_KEY_INVALID`) is one clear error and marks the service unusable.
 *
 * @example
 * const llm = new GeminiLLMService({ model: "gemini-2.5-flash" }); // key from GOOGLE_API_KEY / GEMINI_API_KEY
 */
export class GeminiLLMService extends LLMService {
  readonly model: string;
  /** The endpoint in use (scheme and host, no trailing slash). */
  readonly baseUrl: string;
  /** The URL each request is POSTed to. */
  readonly url: string;
  readonly #apiKey: string | undefined;
  readonly #keySource: string;
  readonly #params: JsonObject;
  readonly #conversion: ConversionOptions;
  readonly #fetch: FetchFunction;
  /** Call id → its thought signature, oldest first (a Map keeps insertion order). */
  readonly #signatures = new Map<string, string>();

  constructor(options: GeminiLLMServiceOptions = {}) {
    super(options);
    const env = options.env ?? process.env;
    this.model = options.model ?? "gemini-2.5-flash";
    const google = env["GOOGLE_API_KEY"]?.trim() || undefined;
    const gemini = env["GEMINI_API_KEY"]?.trim() || undefined;
    this.#apiKey = options.apiKey ?? google ?? gemini;
    this.#keySource =
      options.apiKey !== undefined ? "the apiKey option" : google ? "GOOGLE_API_KEY" : "GEMINI_API_KEY";
    this.baseUrl = resolveBaseUrl(this.name, options.baseUrl, "GEMINI_BASE_URL", env, DEFAULT_BASE_URL);
    const version = options.apiVersion ?? "v1beta";
    if (!/^v\d+[a-z0-9]*$/.test(version)) {
      throw new InvalidOptionError(
        `${this.name}: apiVersion must look like v1 or v1beta (got ${JSON.stringify(version)})`,
      );
    }
    this.url = `${this.baseUrl}/${version}/${modelPath(this.name, this.model)}:streamGenerateContent?alt=sse`;
    this.#params = options.params ?? {};
    this.#conversion = options.conversion ?? {};
    this.#fetch = options.fetch ?? httpFetch;
  }

  /** How many thought signatures are kept for calls the model made (at most {@link MAX_KEPT_SIGNATURES}). */
  get keptThoughtSignatures(): number {
    return this.#signatures.size;
  }

  protected override connect(): void {
    if (!this.#apiKey) {
      throw new LLMServiceError(
        this.name,
        "missing-key",
        `${this.name}: neither GOOGLE_API_KEY nor GEMINI_API_KEY is set: set one to your Gemini API key, or pass the apiKey option`,
      );
    }
  }

  protected override async *streamCompletion(request: LLMCompletionRequest): AsyncIterable<LLMStreamEvent> {
    const body = {
      ...this.#params,
      ...toGeminiRequest(this.#withSignatures(request.context), this.#conversion),
    };
    const translator = new GeminiStreamTranslator(`call_${this.id}_${++requests}`);
    const events = postEventStream({
      url: this.url,
      headers: { "x-goog-api-key": this.#apiKey ?? "" },
      body,
      signal: request.signal,
      fetch: this.#fetch,
    });
    for await (const sse of events) {
      // After the finishReason: the body's end, read (by the base, off the answer's path,
      // bounded) so the connection can be pooled. What it holds is not part of the answer.
      if (translator.finished) continue;
      for (const event of translator.translate(sse)) yield event;
      this.#keep(translator);
      if (translator.finished) {
        // The chunk with the finishReason carries the usage too: the answer is complete here,
        // whenever the body ends (no [DONE] in Gemini's stream).
        const usage = translator.usage();
        if (usage) yield { type: "usage", usage };
        yield { type: "complete" };
      }
    }
    // Without a finishReason the answer was cut off.
    if (!translator.finished && !request.signal.aborted) {
      throw new LLMServiceError(
        this.name,
        "connection",
        `${this.name}: ${this.baseUrl} closed the stream before the answer was finished (no finishReason)`,
      );
    }
  }

  protected override describeError(error: unknown): LLMServiceError {
    return describeGeminiError(
      this.name,
      { baseUrl: this.baseUrl, model: this.model, keySource: this.#keySource },
      error,
    );
  }

  /** Keeps the thought signatures the translator found, dropping the oldest past the bound. */
  #keep(translator: GeminiStreamTranslator): void {
    for (const { id, thoughtSignature } of translator.signatures.splice(0)) {
      this.#signatures.delete(id);
      this.#signatures.set(id, thoughtSignature);
      if (this.#signatures.size > MAX_KEPT_SIGNATURES) {
        const oldest = this.#signatures.keys().next().value;
        if (oldest !== undefined) this.#signatures.delete(oldest);
      }
    }
  }

  /** The snapshot with each kept thought signature back on its call (when the context lost it). */
  #withSignatures(snapshot: LLMContextSnapshot): LLMContextSnapshot {
    if (this.#signatures.size === 0) return snapshot;
    let changed = false;
    const messages = snapshot.messages.map((m): LLMMessage => {
      if (m.role !== "assistant" || !m.tool_calls?.some((c) => !c.gemini && this.#signatures.has(c.id)))
        return m;
      changed = true;
      return {
        ...m,
        tool_calls: m.tool_calls.map((c) => {
          const signature = c.gemini ? undefined : this.#signatures.get(c.id);
          return signature === undefined ? c : { ...c, gemini: { thoughtSignature: signature } };
        }),
      };
    });
    return changed ? { ...snapshot, messages } : snapshot;
  }
}

/** `models/<name>` (or a `tunedModels/…` path as given), each segment URL-encoded. */
function modelPath(service: string, model: string): string {
  const path = model.includes("/") ? model : `models/${model}`;
  const segments = path.split("/");
  if (segments.length !== 2 || segments.some((s) => s === "")) {
    throw new InvalidOptionError(
      `${service}: model must be a model name like gemini-2.5-flash, or models/<name> (got ${JSON.stringify(model)})`,
    );
  }
  return segments.map(encodeURIComponent).join("/");
}
