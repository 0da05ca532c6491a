import type { Clock } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import { InvalidOptionError } from "../errors.js";
import type { TelephonyCall } from "../serializers/telephony/telephony-serializer.js";
import { resolveBaseUrl } from "../services/http/base-url.js";
import { type CallControl, CallControlError } from "./call-control.js";
import {
  type CallControlAnswer,
  callControlRefused,
  sendCallControlRequest,
} from "./call-control-request.js";
import { givenText } from "../wire-values.js";

const DEFAULT_BASE_URL = "https://api.plivo.com";

/** Options of {@link PlivoCallControl}. */
export interface PlivoCallControlOptions {
  /** The account's Auth ID (`MA…`, or a subaccount's `SA…`). @default `process.env.PLIVO_AUTH_ID` */
  authId?: string;
  /** The account's Auth Token. @default `process.env.PLIVO_AUTH_TOKEN` */
  authToken?: string;
  /**
   * Scheme and host of the API; `/v1/Account/…` is appended. @default `process.env.PLIVO_BASE_URL`,
   * else `https://api.plivo.com`
   */
  baseUrl?: string;
  /** Longest wait for one request, connection and answer included, in ms. @default 5000 */
  timeoutMs?: number;
  /** Clock of the deadline. @default a new SystemClock */
  clock?: Clock;
  /**
   * The URL Plivo fetches, when a call is transferred to `target`, for the XML that dials it.
   * Plivo's transfer API moves the call to new XML at a URL; it cannot dial a number itself. The
   * application serves {@link plivoDialXml}(target) at that URL, e.g.
   * `(target) => \`https://bot.example.com/plivo/dial?to=${encodeURIComponent(target)}\``.
   * Without it, {@link PlivoCallControl.transfer} refuses.
   */
  transferUrl?: (target: string) => string;
  /** How Plivo fetches {@link transferUrl}. @default "POST" (Plivo's default) */
  transferMethod?: "GET" | "POST";
  /** Where the credentials and base URL are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Hangs up and transfers Plivo calls through Plivo's Voice API, with HTTP Basic authentication
 * (Auth ID and Auth Token). The call is the one a `PlivoFrameSerializer` read from the stream's
 * `start`: its `callId` is the `call_uuid` the API takes.
 *
 * - {@link hangUp}: `DELETE /v1/Account/{auth_id}/Call/{call_uuid}/`; `204` is done, and `404`
 *   (the call has already ended) counts as done too.
 * - {@link transfer}: `POST /v1/Account/{auth_id}/Call/{call_uuid}/` with
 *   `{"legs":"aleg","aleg_url":…,"aleg_method":…}`: Plivo leaves the current XML (the `<Stream>`
 *   closes its socket, which ends the bot's task by its normal end path) and runs the XML at
 *   `aleg_url`, which dials the target. `202` is done.
 *
 * Each request has one deadline (`timeoutMs`). A hang-up is sent once more after a 5xx or a failed
 * connection (twice does no harm); a transfer never (it could dial the target twice). Failures
 * throw {@link CallControlError} naming the status, Plivo's `error` text and what to do.
 *
 * @example
 * const control = new PlivoCallControl({ transferUrl: (to) => `https://bot.example.com/dial?to=${encodeURIComponent(to)}` });
 * await control.hangUp(answered.call);
 */
export class PlivoCallControl implements CallControl {
  readonly provider = "plivo" as const;
  /** The endpoint in use (no trailing slash). */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly #authId: string;
  readonly #authorization: string;
  readonly #clock: Clock;
  readonly #transferUrl: ((target: string) => string) | undefined;
  readonly #transferMethod: "GET" | "POST";

  constructor(options: PlivoCallControlOptions = {}) {
    const env = options.env ?? process.env;
    const authId = options.authId ?? (env["PLIVO_AUTH_ID"]?.trim() || undefined);
    const authToken = options.authToken ?? (env["PLIVO_AUTH_TOKEN"]?.trim() || undefined);
    if (!authId || !authToken) {
      throw new InvalidOptionError(
        `PlivoCallControl: ${!authId ? "PLIVO_AUTH_ID" : "PLIVO_AUTH_TOKEN"} is not set: set PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN ` +
          "to the Auth ID and Auth Token on the Plivo console's overview page, or pass the authId and authToken options",
      );
    }
    this.baseUrl = resolveBaseUrl(
      "PlivoCallControl",
      options.baseUrl,
      "PLIVO_BASE_URL",
      env,
      DEFAULT_BASE_URL,
    );
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new InvalidOptionError(
        `PlivoCallControl: timeoutMs must be a number of ms > 0 (got ${givenText(options.timeoutMs)}); leave it out for 5000`,
      );
    }
    const method = options.transferMethod ?? "POST";
    if (method !== "GET" && method !== "POST") {
      throw new InvalidOptionError(
        `PlivoCallControl: transferMethod must be "GET" or "POST" (got ${JSON.stringify(method)})`,
      );
    }
    this.#authId = authId;
    this.#authorization = `Basic ${Buffer.from(`${authId}:${authToken}`, "utf8").toString("base64")}`;
    this.#clock = options.clock ?? new SystemClock();
    this.#transferUrl = options.transferUrl;
    this.#transferMethod = method;
  }

  /** Ends the call. Resolves when Plivo accepted it (`204`) or the call had already ended (`404`). */
  async hangUp(call: TelephonyCall): Promise<void> {
    const url = this.#callUrl(call, "hang up");
    const what = `hanging up call ${call.callId}`;
    const answer = await this.#send("DELETE", url, undefined, what);
    if ((answer.status >= 200 && answer.status < 300) || answer.status === 404) return;
    throw refused(what, answer);
  }

  /**
   * Moves the caller to the XML at `transferUrl(target)`, which dials `target`. Resolves when
   * Plivo accepted the transfer (`202`); whether `target` answers is Plivo's to report (the
   * `<Dial>` element's `action` URL). Throws when no `transferUrl` was given, or the call has ended.
   */
  async transfer(call: TelephonyCall, target: string): Promise<void> {
    if (!this.#transferUrl) {
      throw new CallControlError(
        "plivo: transferring needs the transferUrl option: Plivo's transfer API runs the XML at a URL, so give a " +
          "function from the target to a URL of yours that answers with plivoDialXml(target)",
        { provider: "plivo", retryable: false },
      );
    }
    if (typeof target !== "string" || target.trim() === "") {
      throw new CallControlError(
        `plivo: the transfer target must be a phone number or SIP URI (got ${JSON.stringify(target)})`,
        {
          provider: "plivo",
          retryable: false,
        },
      );
    }
    const url = this.#callUrl(call, "transfer");
    const alegUrl = this.#transferUrl(target);
    if (!/^https?:\/\/[^/\s]/i.test(String(alegUrl))) {
      throw new CallControlError(
        `plivo: transferUrl(${JSON.stringify(target)}) gave ${JSON.stringify(alegUrl)}, not an http(s) URL Plivo can fetch`,
        { provider: "plivo", retryable: false },
      );
    }
    const body = { legs: "aleg", aleg_url: alegUrl, aleg_method: this.#transferMethod };
    const what = `transferring call ${call.callId}`;
    const answer = await this.#send("POST", url, body, what);
    if (answer.status >= 200 && answer.status < 300) return;
    if (answer.status === 404) {
      throw callControlRefused(
        { provider: "plivo", what },
        answer,
        errorText(answer.text) || "not found",
        "the call has ended, so there is nothing to transfer",
      );
    }
    throw refused(what, answer);
  }

  #callUrl(call: TelephonyCall, what: string): string {
    if (call.provider !== "plivo" || call.callId === "") {
      throw new CallControlError(
        call.provider !== "plivo"
          ? `plivo: cannot ${what} a ${call.provider} call; use that provider's call control`
          : `plivo: cannot ${what}: the stream's start message gave no callId`,
        { provider: "plivo", retryable: false },
      );
    }
    return `${this.baseUrl}/v1/Account/${encodeURIComponent(this.#authId)}/Call/${encodeURIComponent(call.callId)}/`;
  }

  /** One request, bounded by `timeoutMs`; a hang-up (DELETE) is sent once more after a 5xx or a failed connection. */
  #send(method: "DELETE" | "POST", url: string, body: unknown, what: string): Promise<CallControlAnswer> {
    return sendCallControlRequest({
      provider: "plivo",
      what,
      method,
      url,
      headers: {
        authorization: this.#authorization,
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      clock: this.#clock,
      timeoutMs: this.timeoutMs,
      idempotent: method === "DELETE",
    });
  }
}

/** A refusal in Plivo's words, with what to do about its status. */
function refused(what: string, answer: CallControlAnswer): CallControlError {
  const { status } = answer;
  const advice =
    status === 401 || status === 403
      ? "check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN (the Auth ID and Auth Token on the Plivo console)"
      : status === 429
        ? "Plivo is limiting the request rate; try again later"
        : status >= 500
          ? "Plivo failed; it may work if tried again later"
          : "Plivo refused the request; trying it again will not help";
  return callControlRefused({ provider: "plivo", what }, answer, errorText(answer.text) || undefined, advice);
}

/** Plivo's `error` field (`{"api_id":…,"error":"not found"}`), else the start of the body. */
function errorText(body: string): string {
  let said: unknown = body;
  try {
    const json = JSON.parse(body) as unknown;
    if (typeof json === "object" && json !== null && "error" in json)
      said = (json as { error: unknown }).error;
  } catch {
    // not JSON: the body's own words
  }
  const text = typeof said === "string" ? said : (JSON.stringify(said) ?? "");
  return text.replace(/\s+/g, " ").trim().slice(0, 200);
}

/**
 * The Plivo XML that dials `target` for the current caller: `<Dial><Number>` for a phone number
 * (digits, an optional leading `+`), `<Dial><User>` for a SIP URI (`sip:…`). Serve it at the URL
 * {@link PlivoCallControlOptions.transferUrl} gives. Throws `InvalidOptionError` for anything
 * else, so a target taken from a conversation cannot inject XML.
 */
export function plivoDialXml(target: string): string {
  const value = typeof target === "string" ? target.trim() : "";
  let element: string;
  if (/^\+?[0-9]{2,20}$/.test(value)) element = "Number";
  else if (/^sips?:[^\s<>&"']{1,250}$/i.test(value)) element = "User";
  else {
    throw new InvalidOptionError(
      `plivoDialXml: ${JSON.stringify(target)} is not a phone number (digits with an optional +) or a SIP URI (sip:user@host)`,
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Dial><${element}>${value}</${element}></Dial></Response>\n`;
}
