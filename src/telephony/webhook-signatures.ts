import {
  type KeyObject,
  createHash,
  createHmac,
  createPublicKey,
  timingSafeEqual,
  verify,
} from "node:crypto";
import { InvalidOptionError } from "../errors.js";
import { givenText } from "../wire-values.js";

/**
 * Checks of the signatures telephony providers put on their webhook requests (the request that
 * fetches the answer document), so a server can tell a provider's request from anyone else's.
 * node:crypto only. docs/design/dev-server.md, "Phone calls", says how the development server
 * uses them; each scheme is described on its function.
 */

/** How a signature check went: valid, or why not (`detail` says it in words, for a log or a 403). */
export type SignatureCheck =
  | { readonly valid: true }
  | { readonly valid: false; readonly reason: "missing" | "mismatch" | "stale"; readonly detail: string };

/** Form (or query) parameters of a request, in the order they came; a name may repeat. */
export type WebhookParams = Iterable<readonly [string, string]>;

const VALID: SignatureCheck = { valid: true };

/** Options of {@link checkTwilioSignature}. */
export interface TwilioSignatureInput {
  /** The account's Auth Token (the HMAC key). */
  authToken: string;
  /** The full URL Twilio requested, query included, as configured in Twilio's console. */
  url: string;
  /** The POST form parameters (none for a GET). */
  params: WebhookParams;
  /** The `X-Twilio-Signature` header. */
  signature: string | undefined;
}

/**
 * Twilio's `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the Auth Token, over the full
 * URL followed by every POST parameter as name then value, sorted by name, no separators.
 * The URL is also tried with the scheme's default port added or removed, as Twilio's own
 * libraries do (Twilio may sign either form). The scheme carries no time: a captured request
 * can be replayed, which TLS on the webhook prevents.
 */
export function checkTwilioSignature(input: TwilioSignatureInput): SignatureCheck {
  const { signature } = input;
  if (signature === undefined || signature === "")
    return missing(
      "no X-Twilio-Signature header; Twilio signs every webhook, so this request is not from Twilio",
    );
  const suffix = sortedPairs(input.params)
    .map(([name, value]) => name + value)
    .join("");
  for (const url of urlVariants(input.url)) {
    const expected = createHmac("sha1", input.authToken)
      .update(url + suffix, "utf8")
      .digest("base64");
    if (sameText(signature, expected)) return VALID;
  }
  return mismatch(
    `X-Twilio-Signature does not match the request signed for ${input.url}: check the Auth Token, and that the URL in Twilio's console is exactly this one (behind a tunnel, set the public URL)`,
  );
}

/** Options of {@link checkPlivoSignature}. */
export interface PlivoSignatureInput {
  /** The account's (or subaccount's) Auth Token. */
  authToken: string;
  method: "GET" | "POST";
  /** The full URL Plivo requested, query included. */
  url: string;
  /** The POST form parameters (leave empty for a GET: its parameters are in the URL). */
  params: WebhookParams;
  /** `X-Plivo-Signature-V3-Nonce`. */
  nonce: string | undefined;
  /** `X-Plivo-Signature-V3`: one signature, or several separated by commas (any may match). */
  signature: string | undefined;
}

/**
 * Plivo's `X-Plivo-Signature-V3`: base64 of HMAC-SHA256, keyed with the Auth Token, over
 * `<base>.<nonce>`, where `<base>` is `scheme://host[:port]/path`, then, when the URL has a query
 * or the POST has parameters, `?` and the query's `name=value` pairs sorted (by name, then value)
 * and joined with `&`, then, when both are present, `.`, then the POST parameters as name then
 * value, sorted, no separators (the scheme of Plivo's server SDKs). The nonce is random and
 * carries no time: a captured request can be replayed, which TLS on the webhook prevents.
 */
export function checkPlivoSignature(input: PlivoSignatureInput): SignatureCheck {
  const { signature, nonce } = input;
  if (signature === undefined || signature === "" || nonce === undefined || nonce === "")
    return missing(
      "no X-Plivo-Signature-V3 and X-Plivo-Signature-V3-Nonce headers; Plivo signs every webhook, so this request is not from Plivo",
    );
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    return mismatch(`the request URL ${input.url} is not a URL; the signature cannot match`);
  }
  const query = sortedPairs(url.searchParams)
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  const post = input.method === "POST" ? sortedPairs(input.params) : [];
  let base = `${url.protocol}//${url.host}${url.pathname}`;
  if (query !== "" || post.length > 0) base += `?${query}`;
  if (query !== "" && post.length > 0) base += ".";
  base += post.map(([name, value]) => name + value).join("");
  const expected = createHmac("sha256", input.authToken).update(`${base}.${nonce}`, "utf8").digest("base64");
  for (const given of signature.split(",")) if (sameText(given.trim(), expected)) return VALID;
  return mismatch(
    `X-Plivo-Signature-V3 does not match the request signed for ${input.url}: check the Auth Token, and that the answer URL in Plivo's console is exactly this one (behind a tunnel, set the public URL)`,
  );
}

/** Options of {@link checkTelnyxSignature}. */
export interface TelnyxSignatureInput {
  /** The account's public key ({@link telnyxPublicKey}). */
  publicKey: KeyObject;
  /** `telnyx-signature-ed25519` (base64 of 64 bytes). */
  signature: string | undefined;
  /** `telnyx-timestamp` (Unix time in seconds). */
  timestamp: string | undefined;
  /** The request body exactly as received. */
  body: Uint8Array | string;
  /** The Unix time now, in ms. */
  nowMs: number;
  /** Largest difference between `timestamp` and `nowMs` accepted, in ms, either way. @default 300000 */
  toleranceMs?: number;
}

/** 5 minutes. */
export const TELNYX_SIGNATURE_TOLERANCE_MS = 300_000;

/**
 * Telnyx's webhook signature: ed25519, by the account's key, over `<telnyx-timestamp>|<body>`
 * (the raw body bytes). A timestamp further than `toleranceMs` from now, either way, is refused
 * as stale even when signed: it bounds how long a captured request can be replayed.
 */
export function checkTelnyxSignature(input: TelnyxSignatureInput): SignatureCheck {
  const { signature, timestamp } = input;
  if (signature === undefined || signature === "" || timestamp === undefined || timestamp === "")
    return missing(
      "no telnyx-signature-ed25519 and telnyx-timestamp headers; Telnyx signs its webhooks, so this request is not from Telnyx",
    );
  const bytes = Buffer.from(signature, "base64");
  if (!/^\d{1,12}$/.test(timestamp) || bytes.length !== 64)
    return mismatch(
      "telnyx-signature-ed25519 or telnyx-timestamp is malformed (want base64 of 64 bytes and Unix seconds)",
    );
  const body = typeof input.body === "string" ? Buffer.from(input.body, "utf8") : input.body;
  const message = Buffer.concat([Buffer.from(`${timestamp}|`, "utf8"), body]);
  if (!verify(null, message, input.publicKey, bytes))
    return mismatch(
      "telnyx-signature-ed25519 does not match: check the public key (Mission Control, Keys & Credentials, Public Key) and that nothing rewrote the body",
    );
  const toleranceMs = checkedTime("checkTelnyxSignature", input, TELNYX_SIGNATURE_TOLERANCE_MS);
  const ageMs = input.nowMs - Number(timestamp) * 1000;
  if (!(Math.abs(ageMs) <= toleranceMs))
    return {
      valid: false,
      reason: "stale",
      detail: `telnyx-timestamp is ${Math.round(ageMs / 1000)} s ${ageMs >= 0 ? "old" : "in the future"} (more than ${toleranceMs / 1000} s): refused as a replay; check this machine's clock if Telnyx really sent it now`,
    };
  return VALID;
}

/**
 * The account's public key as Telnyx shows it (base64 of the 32-byte ed25519 key), or a PEM
 * `-----BEGIN PUBLIC KEY-----` block.
 * @throws InvalidOptionError when it is neither.
 */
export function telnyxPublicKey(key: string): KeyObject {
  const text = key.trim();
  try {
    if (text.startsWith("-----BEGIN")) {
      const pem = createPublicKey(text);
      if (pem.asymmetricKeyType === "ed25519") return pem;
    } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
      const raw = Buffer.from(text, "base64");
      if (raw.length === 32)
        return createPublicKey({
          key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
          format: "jwk",
        });
    }
  } catch {
    // Said below, in words.
  }
  throw new InvalidOptionError(
    "telephony.telnyx.publicKey (TELNYX_PUBLIC_KEY) must be the account's ed25519 public key: base64 of 32 bytes as Mission Control shows it (Keys & Credentials, Public Key), or a PEM block",
  );
}

/** Options of {@link checkVonageSignature}. */
export interface VonageSignatureInput {
  /** The account's signature secret (Vonage dashboard, API settings): the HS256 key. */
  signatureSecret: string;
  /** The `Authorization` header: `Bearer <JWT>`. */
  authorization: string | undefined;
  method: "GET" | "POST";
  /** The full URL Vonage requested: a GET's payload is its query. */
  url: string;
  /** The request body exactly as received: a POST's payload. */
  body: Uint8Array | string;
  /** The Unix time now, in ms. */
  nowMs: number;
  /** Largest difference between the token's `iat` and `nowMs` accepted, in ms, either way. @default 300000 */
  toleranceMs?: number;
}

/** 5 minutes, as for Telnyx. */
export const VONAGE_SIGNATURE_TOLERANCE_MS = 300_000;

/** Longest `Authorization` header read, in characters (Vonage's tokens are about 400). */
const MAX_VONAGE_TOKEN_CHARS = 4096;

/**
 * Vonage's signed webhooks (Voice, Messages): `Authorization: Bearer <JWT>`, a JWT signed with
 * HMAC-SHA256 (`alg` HS256) keyed with the account's signature secret, whose claims hold `iat`
 * (Unix seconds) and `payload_hash`: the SHA-256 (hex) of the payload, which is a GET's query
 * parameters as a JSON object (in their order, no whitespace) or a POST's JSON body. The
 * signature, then the payload hash (a token lifted from another request does not fit this one),
 * then the time: an `iat` further than `toleranceMs` from now, either way, or an `exp` passed,
 * is refused as stale, which bounds how long a captured request can be replayed. Only HS256 is
 * accepted, whatever the token's header says.
 */
export function checkVonageSignature(input: VonageSignatureInput): SignatureCheck {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(input.authorization ?? "")?.[1];
  if (token === undefined)
    return missing(
      "no Authorization: Bearer <JWT> header; Vonage signs its webhooks when the application's signed webhooks are on (the default), so this request is not from Vonage",
    );
  const parts = token.length <= MAX_VONAGE_TOKEN_CHARS ? token.split(".") : [];
  const header = parts.length === 3 ? jsonObject(parts[0]!) : undefined;
  const claims = header ? jsonObject(parts[1]!) : undefined;
  if (header === undefined || claims === undefined)
    return mismatch("the Authorization token is not a JWT (three base64url parts, JSON header and claims)");
  if (header["alg"] !== "HS256")
    return mismatch(
      `the Authorization token is signed with ${JSON.stringify(header["alg"])}; Vonage signs webhooks with HS256`,
    );
  const expected = createHmac("sha256", input.signatureSecret)
    .update(`${parts[0]}.${parts[1]}`, "utf8")
    .digest("base64url");
  if (!sameText(parts[2]!, expected))
    return mismatch(
      "the Authorization token's signature does not match: check the signature secret (Vonage dashboard, API settings, Signature secret) and that its method is SHA-256 HMAC (HS256)",
    );
  const payloadHash = claims["payload_hash"];
  if (typeof payloadHash !== "string" || !vonagePayloadHashes(input).some((h) => sameText(payloadHash, h)))
    return mismatch(
      `the token's payload_hash is not the SHA-256 of this request's ${input.method === "GET" ? "query" : "body"}: the token was made for another request, or the request was changed on the way`,
    );
  const iat = claims["iat"];
  if (typeof iat !== "number" || !Number.isFinite(iat))
    return mismatch("the Authorization token has no iat (issued-at, Unix seconds)");
  const toleranceMs = checkedTime("checkVonageSignature", input, VONAGE_SIGNATURE_TOLERANCE_MS);
  const ageMs = input.nowMs - iat * 1000;
  const exp = claims["exp"];
  if (!(Math.abs(ageMs) <= toleranceMs) || (typeof exp === "number" && exp * 1000 < input.nowMs))
    return {
      valid: false,
      reason: "stale",
      detail: `the Authorization token was issued ${Math.round(Math.abs(ageMs) / 1000)} s ${ageMs >= 0 ? "ago" : "in the future"}${Math.abs(ageMs) > toleranceMs ? ` (more than ${toleranceMs / 1000} s)` : ", and has expired"}: refused as a replay; check this machine's clock if Vonage really sent it now`,
    };
  return VALID;
}

/**
 * What `payload_hash` may be: a GET's query as a JSON object; a POST's body as received, and as
 * compact JSON (Vonage hashes the object it sends with no whitespace).
 */
function vonagePayloadHashes(input: VonageSignatureInput): string[] {
  const sha256 = (data: Uint8Array | string): string => createHash("sha256").update(data).digest("hex");
  if (input.method === "GET") {
    let query: URLSearchParams;
    try {
      query = new URL(input.url).searchParams;
    } catch {
      return [];
    }
    return [sha256(JSON.stringify(Object.fromEntries(query)))];
  }
  const hashes = [sha256(input.body)];
  const text = typeof input.body === "string" ? input.body : Buffer.from(input.body).toString("utf8");
  try {
    hashes.push(sha256(JSON.stringify(JSON.parse(text))));
  } catch {
    // Not JSON: the body as received is the only candidate.
  }
  return hashes;
}

/** A base64url JSON object, or undefined when it is not one. */
function jsonObject(part: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return undefined;
  try {
    const value = JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown;
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Pairs sorted by name, then value (UTF-16 code units, as JavaScript's default sort). */
function sortedPairs(params: WebhookParams): (readonly [string, string])[] {
  return [...params].sort(([an, av], [bn, bv]) =>
    an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0,
  );
}

/** `url` as given, then with the scheme's default port removed or added. */
function urlVariants(url: string): string[] {
  const variants = [url];
  const match = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(url);
  if (!match) return variants;
  const [, scheme, authority, rest] = match as unknown as [string, string, string, string];
  const defaultPort = scheme.toLowerCase() === "https" ? "443" : "80";
  const portMatch = /^(.*?)(?::(\d+))?$/.exec(authority)!;
  const host = portMatch[1];
  const port = portMatch[2];
  if (port === undefined) variants.push(`${scheme}://${host}:${defaultPort}${rest}`);
  else if (port === defaultPort) variants.push(`${scheme}://${host}${rest}`);
  return variants;
}

/**
 * The replay bound of a check: `toleranceMs` (or its default) and `nowMs`, refused when they are
 * not numbers a time can be compared with. A NaN compares false with everything, so it would
 * have accepted a request of any age: the replay check silently off.
 */
function checkedTime(
  check: string,
  input: { nowMs: number; toleranceMs?: number },
  defaultMs: number,
): number {
  const toleranceMs = input.toleranceMs ?? defaultMs;
  if (typeof toleranceMs !== "number" || Number.isNaN(toleranceMs) || toleranceMs < 0)
    throw new InvalidOptionError(
      `${check}: toleranceMs must be a number of ms ≥ 0 (got ${givenText(toleranceMs)}); leave it out for ${defaultMs}`,
    );
  if (typeof input.nowMs !== "number" || !Number.isFinite(input.nowMs))
    throw new InvalidOptionError(
      `${check}: nowMs must be the Unix time in ms (got ${givenText(input.nowMs)}); pass Date.now() or your clock's wall time`,
    );
  return toleranceMs;
}

/** Compares two texts in time that does not depend on where they differ. */
function sameText(given: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function missing(detail: string): SignatureCheck {
  return { valid: false, reason: "missing", detail };
}

function mismatch(detail: string): SignatureCheck {
  return { valid: false, reason: "mismatch", detail };
}
