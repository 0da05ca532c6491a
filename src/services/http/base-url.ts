import { InvalidOptionError } from "../../errors.js";
import { nonEmpty } from "../non-empty.js";

/**
 * The endpoint of a provider: the `baseUrl` option, else the environment variable `envName`,
 * else `fallback`. It is the scheme and host (and, for a proxy, a path prefix) that the
 * provider's usual paths are appended to, e.g. `https://api.anthropic.com` → `/v1/messages`.
 * Returned without a trailing slash. Throws `InvalidOptionError` naming where the value came
 * from when it is not an http(s) URL, or carries a query or fragment the paths would break.
 */
export function resolveBaseUrl(
  service: string,
  option: string | undefined,
  envName: string,
  env: Readonly<Record<string, string | undefined>>,
  fallback: string,
): string {
  const fromEnv = nonEmpty(env[envName]);
  const value = option ?? fromEnv ?? fallback;
  const where = option !== undefined ? "the baseUrl option" : fromEnv !== undefined ? envName : "the default";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOptionError(
      `${service}: ${where} (${JSON.stringify(value)}) is not a URL; give the scheme and host, e.g. ${fallback}`,
    );
  }
  // `?` or `#` with nothing after is an empty search or hash to `URL`, but the paths appended to
  // the value would still land in the query or fragment.
  if ((url.protocol !== "http:" && url.protocol !== "https:") || /[?#]/.test(value)) {
    throw new InvalidOptionError(
      `${service}: ${where} (${JSON.stringify(value)}) must be an http(s) URL without a query or fragment, e.g. ${fallback}`,
    );
  }
  return value.replace(/\/+$/, "");
}
