import { InvalidOptionError } from "../errors.js";
import { nonEmpty } from "./non-empty.js";

/**
 * The provider's base URL: the option, else the environment variable, else the public endpoint;
 * trailing slashes removed. Throws an `InvalidOptionError` naming both when it is not a URL a
 * WebSocket can reach: parsed, not matched by its prefix (`wss://a b` is not a host), with no
 * query or fragment (the provider's path is appended to it).
 */
export function providerBaseUrl(
  service: string,
  option: string | undefined,
  envVar: string,
  fallback: string,
  environment: Readonly<Record<string, string | undefined>> = process.env,
): string {
  // An option given is used even when blank (and refused); a blank variable counts as unset.
  const url = (
    option !== undefined ? String(option).trim() : (nonEmpty(environment[envVar]) ?? fallback)
  ).replace(/\/+$/, "");
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (
    parsed === undefined ||
    !/^(wss?|https?):$/i.test(parsed.protocol) ||
    parsed.hostname === "" ||
    /[\s?#]/.test(url)
  ) {
    throw new InvalidOptionError(
      `${service}: baseUrl (or ${envVar}) must be a ws://, wss://, http:// or https:// URL such as ${fallback} ` +
        `(got ${JSON.stringify(url)})`,
    );
  }
  return url;
}
