import { InvalidOptionError } from "../../errors.js";
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
}

/** The key and endpoint a service uses, resolved and checked. */
export interface OpenAIEndpoint {
  /** Undefined when neither the option nor `OPENAI_API_KEY` is set (reported at start). */
  readonly apiKey: string | undefined;
  /** Without a trailing slash. */
  readonly baseURL: string;
}

/**
 * Resolves the key and endpoint from the options, then the environment. A base URL that is not
 * http(s) is an {@link InvalidOptionError} naming where it came from; a missing key is not (the
 * service reports it when it starts, so a pipeline can be built before the key is known).
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
  return { apiKey, baseURL };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
