import { InvalidOptionError } from "../../errors.js";
import { type FetchFunction, httpFetch } from "../http/http-fetch.js";
import { nonEmpty } from "../non-empty.js";

/** OpenAI's public endpoint, as the OpenAI SDK means `baseURL` (paths such as `/audio/speech` are appended). */
export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1";

/** Where a service finds OpenAI: the options every OpenAI audio service takes. */
export interface OpenAIEndpointOptions {
  /** The API key, sent as `Authorization: Bearer <key>`. @default process.env.OPENAI_API_KEY */
  apiKey?: string;
  /**
   * The endpoint, as the OpenAI SDK means it: the URL `/audio/speech` or `/audio/transcriptions`
   * is appended to (`https://api.openai.com/v1`, a proxy, an OpenAI-compatible server).
   * @default process.env.OPENAI_BASE_URL, else `https://api.openai.com/v1`
   */
  baseURL?: string;
  /** Where the key and base URL are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * The `fetch` the requests are sent with. The default, `httpFetch`, sends them on
   * `node:http(s)` with a keep-alive agent per process: Node's own `fetch` costs 1–3 ms more per
   * request and drops a connection idle for 4 s, so the next utterance or sentence after a pause
   * paid a new TCP and TLS handshake (docs/design/llm-services.md, "The HTTP client"). Pass
   * `globalThis.fetch`, or undici's `fetch` with a proxy dispatcher, to use those instead.
   * @default httpFetch
   */
  fetch?: FetchFunction;
}

/** The key and endpoint a service uses, resolved and checked. */
export interface OpenAIEndpoint {
  /** Undefined when neither the option nor `OPENAI_API_KEY` is set (reported at start). */
  readonly apiKey: string | undefined;
  /** Without a trailing slash. */
  readonly baseURL: string;
  /** What sends the requests. */
  readonly fetch: FetchFunction;
}

/**
 * Resolves the key and endpoint from the options, then the environment. A base URL that is not
 * http(s), or a `fetch` that is not a function, is an {@link InvalidOptionError} naming where it
 * came from; a missing key is not (the service reports it when it starts, so a pipeline can be
 * built before the key is known).
 */
export function resolveOpenAIEndpoint(service: string, options: OpenAIEndpointOptions): OpenAIEndpoint {
  const env = options.env ?? process.env;
  if (options.apiKey !== undefined && typeof options.apiKey !== "string") {
    throw new InvalidOptionError(`${service}: apiKey must be a string (got ${typeof options.apiKey})`);
  }
  const apiKey = nonEmpty(options.apiKey) ?? nonEmpty(env["OPENAI_API_KEY"]);
  const from = options.baseURL !== undefined ? "baseURL" : "OPENAI_BASE_URL";
  const raw = options.baseURL ?? nonEmpty(env["OPENAI_BASE_URL"]) ?? OPENAI_DEFAULT_BASE_URL;
  const baseURL = String(raw).trim().replace(/\/+$/u, "");
  if (!isHttpUrl(baseURL)) {
    throw new InvalidOptionError(
      `${service}: ${from} must be an http:// or https:// URL such as ${OPENAI_DEFAULT_BASE_URL} (got ${JSON.stringify(raw)})`,
    );
  }
  const fetch = options.fetch ?? httpFetch;
  if (typeof fetch !== "function") {
    throw new InvalidOptionError(
      `${service}: fetch must be a function with fetch's signature, such as globalThis.fetch (got ${typeof fetch}); leave it out to use httpFetch`,
    );
  }
  return { apiKey, baseURL, fetch };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
