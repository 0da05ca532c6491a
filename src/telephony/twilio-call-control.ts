import type { Clock } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import { InvalidOptionError } from "../errors.js";
import type { TelephonyCall } from "../serializers/telephony/telephony-serializer.js";
import { resolveBaseUrl } from "../services/http/base-url.js";
import {
  type CallControl,
  CallControlError,
  type CallControlOptions,
  DEFAULT_CALL_CONTROL_TIMEOUT_MS,
} from "./call-control.js";
import {
  type CallControlAnswer,
  basicAuthorization,
  callControlRefused,
  sendCallControlRequest,
} from "./call-control-request.js";
import { givenText } from "../wire-values.js";

/** Options of {@link TwilioCallControl}. */
export interface TwilioCallControlOptions extends CallControlOptions {
  /** The account's SID (`AC` and 32 hex digits). @default process.env.TWILIO_ACCOUNT_SID */
  accountSid?: string;
  /** The account's auth token (32 hex digits). @default process.env.TWILIO_AUTH_TOKEN */
  authToken?: string;
  /**
   * Twilio edge location (`ashburn`, `dublin`, `sydney`, …), with `region`: the API host becomes
   * `https://api.{edge}.{region}.twilio.com`. Give both or neither; `baseUrl` overrides them.
   */
  edge?: string;
  /** Twilio region (`us1`, `ie1`, `au1`, …), with `edge`. */
  region?: string;
  /** Where the credentials are read from when the options leave them out. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
}

const TWILIO_API = "https://api.twilio.com";
const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
const AUTH_TOKEN = /^[0-9a-fA-F]{32}$/;
const CALL_SID = /^CA[0-9a-fA-F]{32}$/;
const HOST_PART = /^[a-z0-9-]+$/;
/** Twilio's limit on inline TwiML (error 32018). */
const MAX_TWIML_CHARS = 4000;
/** Twilio's error codes for "the call is not there": not found, or no longer in progress. */
const CALL_NOT_FOUND = 20404;
const CALL_NOT_IN_PROGRESS = 21220;

/**
 * Hangs up and transfers Twilio calls through the Calls resource of Twilio's REST API
 * (`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`, HTTP Basic authentication with
 * the account SID and auth token, a form body).
 *
 * - {@link hangUp}: `Status=completed`. A call Twilio no longer has (HTTP 404, code 20404) or that
 *   is no longer in progress (code 21220) counts as hung up.
 * - {@link transfer}: `Twiml=<Response><Dial>…</Dial></Response>`: Twilio stops the media stream
 *   (the task gets its `stop`) and dials `target`, a phone number (spaces, dashes, dots and
 *   brackets dropped) or a SIP URI (inside `<Sip>`).
 *
 * Each operation is bounded by `timeoutMs`; a hang-up that could not connect or met a 5xx is sent
 * once more within it, a transfer never (it could ring the target twice); a 4xx is never
 * retried. Failures are {@link CallControlError}s naming the HTTP status and Twilio's message.
 * Missing or malformed credentials are refused at construction, naming the variable to set.
 *
 * @example
 * const control = new TwilioCallControl(); // TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
 * await runCall(task, session, answered, { control }); // hangs up when the bot ends the call
 */
export class TwilioCallControl implements CallControl {
  readonly provider = "twilio" as const;
  /** The API's scheme and host, without a trailing slash. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly accountSid: string;
  readonly #authorization: string;
  readonly #clock: Clock;

  constructor(options: TwilioCallControlOptions = {}) {
    const env = options.env ?? process.env;
    this.accountSid = credential(
      options.accountSid,
      env["TWILIO_ACCOUNT_SID"],
      "accountSid",
      "TWILIO_ACCOUNT_SID",
      ACCOUNT_SID,
      '"AC" and 32 hex digits, as the Twilio console shows it',
    );
    const authToken = credential(
      options.authToken,
      env["TWILIO_AUTH_TOKEN"],
      "authToken",
      "TWILIO_AUTH_TOKEN",
      AUTH_TOKEN,
      "32 hex digits, as the Twilio console shows it",
    );
    this.#authorization = basicAuthorization(this.accountSid, authToken);
    this.baseUrl = resolveBaseUrl("TwilioCallControl", options.baseUrl, "baseUrl", {}, apiHost(options));
    const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_CONTROL_TIMEOUT_MS;
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new InvalidOptionError(
        `TwilioCallControl: timeoutMs must be a number of ms > 0 (got ${givenText(options.timeoutMs)}); leave it out for ${DEFAULT_CALL_CONTROL_TIMEOUT_MS}`,
      );
    }
    this.timeoutMs = timeoutMs;
    this.#clock = options.clock ?? new SystemClock();
  }

  /** Ends the call (`Status=completed`); a call already gone counts as done. */
  async hangUp(call: TelephonyCall): Promise<void> {
    const sid = callSid(call, "hang up");
    const what = `hanging up call ${sid}`;
    const answer = await this.#update(sid, { Status: "completed" }, what, true);
    if (isOk(answer)) return;
    const code = twilioCode(answer);
    if (code === CALL_NOT_FOUND || code === CALL_NOT_IN_PROGRESS) return;
    throw callControlRefused(
      { provider: "twilio", what },
      answer,
      twilioMessage(answer),
      this.#advice(answer),
    );
  }

  /**
   * Replaces the call's TwiML with a `<Dial>` to `target`: a phone number (`+15551230000`) or a
   * SIP URI (`sip:agent@pbx.example.com`). Resolves when Twilio accepted it; the stream then
   * stops. When the dialled party hangs up, the call ends.
   */
  async transfer(call: TelephonyCall, target: string): Promise<void> {
    const sid = callSid(call, "transfer");
    const what = `transferring call ${sid} to ${JSON.stringify(String(target).slice(0, 80))}`;
    const twiml = dialTwiml(target);
    const answer = await this.#update(sid, { Twiml: twiml }, what, false);
    if (isOk(answer)) return;
    const code = twilioCode(answer);
    if (code === CALL_NOT_FOUND || code === CALL_NOT_IN_PROGRESS) {
      throw callControlRefused(
        { provider: "twilio", what },
        answer,
        twilioMessage(answer),
        "the call has ended already: there is nothing to transfer",
      );
    }
    throw callControlRefused(
      { provider: "twilio", what },
      answer,
      twilioMessage(answer),
      this.#advice(answer),
    );
  }

  #update(
    sid: string,
    fields: Record<string, string>,
    what: string,
    idempotent: boolean,
  ): Promise<CallControlAnswer> {
    const path = `/2010-04-01/Accounts/${this.accountSid}/Calls/${sid}.json`;
    return sendCallControlRequest({
      provider: "twilio",
      what,
      method: "POST",
      url: `${this.baseUrl}${path}`,
      headers: {
        authorization: this.#authorization,
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: new URLSearchParams(fields).toString(),
      clock: this.#clock,
      timeoutMs: this.timeoutMs,
      idempotent,
    });
  }

  #advice(answer: CallControlAnswer): string | undefined {
    if (answer.status === 401 || answer.status === 403) {
      return `check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (account ${this.accountSid}): Twilio did not accept them`;
    }
    if (answer.status === 404) {
      return `Twilio has no such resource: is baseUrl (${this.baseUrl}) Twilio's API, and is the call in account ${this.accountSid}?`;
    }
    return undefined;
  }
}

/** The TwiML that dials `target`, XML-escaped; a {@link CallControlError} when it is neither a number nor a SIP URI. */
export function dialTwiml(target: string): string {
  const value = typeof target === "string" ? target.trim() : "";
  let dial: string;
  if (/^sips?:\S+$/i.test(value)) {
    dial = `<Sip>${escapeXml(value)}</Sip>`;
  } else {
    const digits = value.replace(/[\s().-]/g, "");
    if (!/^\+?\d{2,15}$/.test(digits)) {
      throw new CallControlError(
        `twilio: cannot transfer to ${JSON.stringify(String(target).slice(0, 80))}: give a phone number ` +
          '(E.164, e.g. "+15551230000") or a SIP URI (e.g. "sip:agent@pbx.example.com")',
        { provider: "twilio", retryable: false },
      );
    }
    dial = escapeXml(digits);
  }
  const twiml = `<Response><Dial>${dial}</Dial></Response>`;
  if (twiml.length > MAX_TWIML_CHARS) {
    throw new CallControlError(
      `twilio: the transfer's TwiML is ${twiml.length} characters, more than Twilio's ${MAX_TWIML_CHARS} (error 32018); shorten the SIP URI`,
      { provider: "twilio", retryable: false },
    );
  }
  return twiml;
}

function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[c]!};`,
  );
}

function credential(
  option: string | undefined,
  fromEnv: string | undefined,
  key: string,
  envName: string,
  shape: RegExp,
  described: string,
): string {
  const value = option ?? (fromEnv?.trim() || undefined);
  const where = option !== undefined ? `the ${key} option` : envName;
  if (value === undefined || value === "") {
    throw new InvalidOptionError(
      `TwilioCallControl: no ${key}: set ${envName} in the environment (or pass the ${key} option); ` +
        "hanging up and transferring calls need the account's credentials (Twilio console, Account Info)",
    );
  }
  if (!shape.test(value)) {
    throw new InvalidOptionError(
      `TwilioCallControl: ${where} is not a Twilio ${key} (${value.length} characters); it must be ${described}. Set ${envName}`,
    );
  }
  return value;
}

function apiHost(options: TwilioCallControlOptions): string {
  const { edge, region } = options;
  if (edge === undefined && region === undefined) return TWILIO_API;
  if (edge === undefined || region === undefined) {
    throw new InvalidOptionError(
      `TwilioCallControl: give both edge and region (the host is api.{edge}.{region}.twilio.com), or neither (got ${edge === undefined ? "region" : "edge"} only)`,
    );
  }
  for (const [key, value] of [
    ["edge", edge],
    ["region", region],
  ] as const) {
    if (!HOST_PART.test(value)) {
      throw new InvalidOptionError(
        `TwilioCallControl: ${key} must be a Twilio ${key} name such as ${key === "edge" ? "ashburn" : "us1"} (got ${JSON.stringify(value)})`,
      );
    }
  }
  return `https://api.${edge}.${region}.twilio.com`;
}

function callSid(call: TelephonyCall, action: string): string {
  if (call?.provider !== "twilio") {
    throw new CallControlError(
      `twilio: cannot ${action} a ${String(call?.provider)} call: use that provider's call control`,
      { provider: "twilio", retryable: false },
    );
  }
  if (typeof call.callId !== "string" || !CALL_SID.test(call.callId)) {
    throw new CallControlError(
      `twilio: cannot ${action} call ${JSON.stringify(String(call.callId).slice(0, 40))}: not a Twilio CallSid ("CA" and 32 hex digits); ` +
        "the stream's start message names it (start.callSid)",
      { provider: "twilio", retryable: false },
    );
  }
  return call.callId;
}

function isOk(answer: CallControlAnswer): boolean {
  return answer.status >= 200 && answer.status < 300;
}

/** Twilio's error code from an error answer (`{"code": 20404, "message": …}`). */
function twilioCode(answer: CallControlAnswer): number | undefined {
  const json = answer.json;
  if (typeof json !== "object" || json === null) return undefined;
  const code = (json as Record<string, unknown>).code;
  return typeof code === "number" ? code : undefined;
}

/** Twilio's error text, with its code: `"The requested resource … was not found" (Twilio error 20404)`. */
function twilioMessage(answer: CallControlAnswer): string | undefined {
  const json = answer.json;
  if (typeof json !== "object" || json === null) return undefined;
  const { message } = json as Record<string, unknown>;
  const code = twilioCode(answer);
  if (typeof message !== "string") return code === undefined ? undefined : `Twilio error ${code}`;
  return `${JSON.stringify(message.slice(0, 200))}${code === undefined ? "" : `, Twilio error ${code}`}`;
}
