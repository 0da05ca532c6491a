import type { Clock } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import { InvalidOptionError } from "../errors.js";
import type { TelephonyCall } from "../serializers/telephony/telephony-serializer.js";
import { resolveBaseUrl } from "../services/http/base-url.js";
import { type CallControl, CallControlError } from "./call-control.js";
import { callControlRefused, sendCallControlRequest } from "./call-control-request.js";
import { givenText } from "../wire-values.js";

/** Options of {@link TelnyxCallControl}. */
export interface TelnyxCallControlOptions {
  /** A Telnyx API key (v2), sent as `Authorization: Bearer <key>`. @default `process.env.TELNYX_API_KEY` */
  apiKey?: string;
  /** Scheme and host of the Call Control API. @default `process.env.TELNYX_BASE_URL`, else `https://api.telnyx.com` */
  baseUrl?: string;
  /** Longest wait for Telnyx's answer to one command, in ms. @default 5000 */
  timeoutMs?: number;
  /** Clock of the deadline. @default a new SystemClock */
  clock?: Clock;
  /** Where `TELNYX_API_KEY` and `TELNYX_BASE_URL` are read. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
}

const DEFAULT_BASE_URL = "https://api.telnyx.com";
/** Telnyx's code for a command on a call that has already ended. */
const CALL_ALREADY_ENDED = "90018";

/**
 * Telnyx Call Control commands for a call that came on a Telnyx media stream (its
 * `call_control_id`, {@link TelephonyCall.callId}): hang up (`POST /v2/calls/{id}/actions/hangup`)
 * and transfer (`…/actions/transfer` with `{"to": target}`). Each command is one request, bounded
 * by `timeoutMs`; a hang-up is sent once more after a failed connection or a 5xx (twice does no
 * harm), a transfer never. A failure is a {@link CallControlError} with Telnyx's own words.
 *
 * @example
 * const control = new TelnyxCallControl(); // key from TELNYX_API_KEY
 * await control.hangUp(answered.call);
 */
export class TelnyxCallControl implements CallControl {
  readonly provider = "telnyx" as const;
  /** The endpoint in use (no trailing slash). */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly #apiKey: string;
  readonly #clock: Clock;

  constructor(options: TelnyxCallControlOptions = {}) {
    const env = options.env ?? process.env;
    const apiKey = options.apiKey ?? (env["TELNYX_API_KEY"]?.trim() || undefined);
    if (!apiKey) {
      throw new InvalidOptionError(
        "TelnyxCallControl: no API key: set TELNYX_API_KEY to a Telnyx v2 API key (or pass the apiKey option); hanging up and transferring calls need one",
      );
    }
    this.#apiKey = apiKey;
    this.baseUrl = resolveBaseUrl(
      "TelnyxCallControl",
      options.baseUrl,
      "TELNYX_BASE_URL",
      env,
      DEFAULT_BASE_URL,
    );
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new InvalidOptionError(
        `TelnyxCallControl: timeoutMs must be a number of ms > 0 (got ${givenText(options.timeoutMs)})`,
      );
    }
    this.#clock = options.clock ?? new SystemClock();
  }

  /** Hangs up. Resolves when Telnyx accepted it, or answered that the call had already ended (422, code 90018). */
  async hangUp(call: TelephonyCall): Promise<void> {
    await this.#command(call, "hangup", {}, true);
  }

  /** Transfers the caller to `target`: a number in E.164 (`+15550100002`) or a SIP URI (`sip:agent@example.com`). */
  async transfer(call: TelephonyCall, target: string): Promise<void> {
    if (typeof target !== "string" || target.trim() === "") {
      throw new CallControlError(
        `telnyx: transfer needs a target: a phone number in E.164 form (+15550100002) or a SIP URI (got ${JSON.stringify(target)})`,
        { provider: this.provider },
      );
    }
    await this.#command(call, "transfer", { to: target }, false);
  }

  async #command(call: TelephonyCall, action: string, body: object, endedIsDone: boolean): Promise<void> {
    const id = this.#callControlId(call, action);
    const what = `${action} of call ${id}`;
    const answer = await sendCallControlRequest({
      provider: this.provider,
      what,
      method: "POST",
      url: `${this.baseUrl}/v2/calls/${pathSegment(id)}/actions/${action}`,
      headers: {
        Authorization: `Bearer ${this.#apiKey}`,
        "Content-Type": "application/json",
        Accept: "application/json",
      },
      body: JSON.stringify(body),
      clock: this.#clock,
      timeoutMs: this.timeoutMs,
      idempotent: action === "hangup",
    });
    const { status } = answer;
    if (status >= 200 && status < 300) return;
    const errors = telnyxErrors(answer.json);
    const ended = status === 422 && errors.some((e) => e.code === CALL_ALREADY_ENDED);
    if (ended && endedIsDone) return;
    const said = errors.length > 0 ? errors.map(describeError).join("; ") : undefined;
    throw callControlRefused({ provider: this.provider, what }, answer, said, remedy(status, ended, action));
  }

  #callControlId(call: TelephonyCall, action: string): string {
    if (call.provider !== "telnyx") {
      throw new CallControlError(
        `telnyx: cannot ${action} a ${call.provider} call; use that provider's call control`,
        { provider: this.provider },
      );
    }
    const id = call.callId;
    if (id === "" || id === "." || id === "..") {
      throw new CallControlError(
        `telnyx: cannot ${action}: the call has no call_control_id (got ${JSON.stringify(id)}); the stream's start message carries it`,
        { provider: this.provider },
      );
    }
    return id;
  }
}

interface TelnyxError {
  readonly code: string | undefined;
  readonly title: string | undefined;
  readonly detail: string | undefined;
}

/** Telnyx's `{"errors":[{"code","title","detail"}]}`; empty when the body is not that. */
function telnyxErrors(body: unknown): TelnyxError[] {
  const errors = (typeof body === "object" && body !== null ? (body as { errors?: unknown }) : {}).errors;
  if (!Array.isArray(errors)) return [];
  return errors.slice(0, 5).map((e: unknown) => {
    const { code, title, detail } = (typeof e === "object" && e !== null ? e : {}) as Record<string, unknown>;
    return {
      // Telnyx sends the code as a string ("90018"); a number is read the same.
      code: typeof code === "string" || typeof code === "number" ? String(code) : undefined,
      title: typeof title === "string" ? title.slice(0, 200) : undefined,
      detail: typeof detail === "string" ? detail.slice(0, 300) : undefined,
    };
  });
}

function describeError(e: TelnyxError): string {
  const head = [e.code, e.title].filter(Boolean).join(" ");
  return e.detail ? `${head}: ${e.detail}` : head || "an error without details";
}

function remedy(status: number, ended: boolean, action: string): string {
  if (ended) return `the call has already ended, so there is nothing to ${action}`;
  if (status === 401 || status === 403)
    return "Telnyx refused the API key: check TELNYX_API_KEY (a v2 key from the Telnyx portal)";
  if (status === 404)
    return "Telnyx knows no call with this call_control_id: it may have ended, or belong to another account";
  if (status === 429) return "Telnyx is rate limiting this account: try again in a moment";
  if (status >= 500) return "Telnyx failed: try again in a moment";
  return "Telnyx refused the command as sent: see its words above";
}

/**
 * A call_control_id as one path segment. Telnyx ids look like `v3:…` and contain `:`, which a
 * path may carry as it is (RFC 3986 pchar) and Telnyx's own SDKs do not escape.
 */
function pathSegment(id: string): string {
  return encodeURIComponent(id).replace(/%3A/gi, ":").replace(/%40/gi, "@");
}
