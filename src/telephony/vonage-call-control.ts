import { readFileSync } from "node:fs";
import type { KeyObject } from "node:crypto";
import type { Clock } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import { InvalidOptionError } from "../errors.js";
import type { TelephonyCall } from "../serializers/telephony/telephony-serializer.js";
import { resolveBaseUrl } from "../services/http/base-url.js";
import { type CallControl, CallControlError } from "./call-control.js";
import { callControlRefused, sendCallControlRequest } from "./call-control-request.js";
import { vonageJwt, vonagePrivateKey } from "./vonage-jwt.js";
import { givenText } from "../wire-values.js";

const DEFAULT_BASE_URL = "https://api.nexmo.com";

/** Options of {@link VonageCallControl}. */
export interface VonageCallControlOptions {
  /** The Vonage application's id. @default process.env.VONAGE_APPLICATION_ID */
  applicationId?: string;
  /**
   * The application's RSA private key: PEM text (or a `KeyObject`). @default the PEM in
   * process.env.VONAGE_PRIVATE_KEY, or the file it names when it is a path
   */
  privateKey?: string | KeyObject;
  /**
   * Scheme and host of the Voice API (a region such as `https://api-eu.vonage.com`, or a loopback
   * server in tests). @default process.env.VONAGE_BASE_URL, else `https://api.nexmo.com`
   */
  baseUrl?: string;
  /** Longest wait for one request, in ms, retry included. @default 5000 */
  timeoutMs?: number;
  /** Clock of the deadline. @default a new SystemClock */
  clock?: Clock;
  /** Where the defaults are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Wall-clock time in ms since the epoch, for the JWT's `iat`/`exp` (the task clock counts
   * running time, not the date). @default the system's time
   */
  now?: () => number;
}

/** Lifetime of each JWT: it is made for one request, sent at once. */
const JWT_TTL_SECONDS = 300;

/**
 * Hang-up and transfer of Vonage calls through the Voice API (docs/design/telephony.md):
 * `PUT {baseUrl}/v1/calls/{uuid}` with a JSON body (`{"action":"hangup"}`, or `{"action":"transfer",
 * "destination":{"type":"ncco","ncco":[…connect…]}}`) and a JWT bearer signed with the
 * application's private key (RS256; a fresh token per request).
 *
 * The call's uuid is `call.callId`: the WebSocket stream does not carry it, so the NCCO that
 * connects the call to voicepipe must put it in the endpoint's headers (as `call_uuid`; the
 * answer webhook receives it as `uuid`).
 *
 * Guarantees: each call resolves or rejects within `timeoutMs` (a hang-up that met a 5xx or a
 * connection failure is sent once more inside that time; a transfer never is, as it could connect
 * the target twice; a 4xx never is). A hang-up of a call that is already gone
 * (404, 410) resolves. Failures reject with {@link CallControlError}.
 */
export class VonageCallControl implements CallControl {
  readonly provider = "vonage" as const;
  /** The endpoint in use (scheme and host, no trailing slash). */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly #applicationId: string;
  readonly #key: KeyObject;
  readonly #clock: Clock;
  readonly #now: () => number;

  constructor(options: VonageCallControlOptions = {}) {
    const env = options.env ?? process.env;
    const applicationId = options.applicationId ?? (env["VONAGE_APPLICATION_ID"]?.trim() || undefined);
    if (!applicationId) {
      throw new InvalidOptionError(
        "vonage: no application id: pass applicationId or set VONAGE_APPLICATION_ID (the dashboard's Applications page shows it)",
      );
    }
    this.#applicationId = applicationId;
    this.#key = vonagePrivateKey(
      options.privateKey ?? readKeyFromEnv(env),
      options.privateKey !== undefined ? "the privateKey option" : "VONAGE_PRIVATE_KEY",
    );
    this.baseUrl = resolveBaseUrl("vonage", options.baseUrl, "VONAGE_BASE_URL", env, DEFAULT_BASE_URL);
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new InvalidOptionError(
        `vonage: timeoutMs must be a number of ms > 0 (got ${givenText(options.timeoutMs)}); leave it out for 5000`,
      );
    }
    this.#clock = options.clock ?? new SystemClock();
    // Wall-clock time for the token's claims; the task clock is running time, not the date.
    this.#now = options.now ?? (() => new Date().getTime());
  }

  async hangUp(call: TelephonyCall): Promise<void> {
    await this.#modify(call, { action: "hangup" }, "hanging up");
  }

  /**
   * Transfers the caller to `target`: a phone number (E.164; `+`, spaces, dots, dashes and
   * brackets are removed, as Vonage wants digits only) or a SIP URI (`sip:…`, `sips:…`). The call
   * leaves the WebSocket, which Vonage then closes (the task ends by its disconnect path).
   */
  async transfer(call: TelephonyCall, target: string): Promise<void> {
    await this.#modify(
      call,
      {
        action: "transfer",
        destination: { type: "ncco", ncco: [{ action: "connect", endpoint: [endpoint(target)] }] },
      },
      `transferring to ${target}`,
    );
  }

  /** One `PUT /v1/calls/{uuid}`; resolves on 2xx (and on "gone" for a hang-up). */
  async #modify(
    call: TelephonyCall,
    body: { action: string; [field: string]: unknown },
    doing: string,
  ): Promise<void> {
    if (call.provider !== "vonage") {
      throw new CallControlError(
        `vonage: ${doing} a ${call.provider} call: use that provider's call control`,
        { provider: "vonage" },
      );
    }
    if (!call.callId) {
      throw new CallControlError(
        `vonage: ${doing} needs the call's uuid, and this stream did not say it: add "call_uuid": the answer webhook's uuid ` +
          "to the headers of the NCCO's websocket endpoint",
        { provider: "vonage" },
      );
    }
    const what = `${doing} call ${call.callId}`;
    const token = vonageJwt(this.#applicationId, this.#key, this.#now(), JWT_TTL_SECONDS);
    const answer = await sendCallControlRequest({
      provider: "vonage",
      what,
      method: "PUT",
      url: `${this.baseUrl}/v1/calls/${encodeURIComponent(call.callId)}`,
      headers: {
        Authorization: `Bearer ${token}`,
        "Content-Type": "application/json",
        Accept: "application/json",
      },
      body: JSON.stringify(body),
      clock: this.#clock,
      timeoutMs: this.timeoutMs,
      idempotent: body.action === "hangup",
    });
    const { status, text } = answer;
    if (status >= 200 && status < 300) return;
    if (body.action === "hangup" && callIsGone(status, text)) return;
    throw callControlRefused(
      { provider: "vonage", what },
      answer,
      errorText(answer.json),
      advice(status, body.action),
    );
  }
}

/** The NCCO endpoint of a transfer target. */
function endpoint(target: string): Record<string, string> {
  const trimmed = target.trim();
  if (/^sips?:/i.test(trimmed)) return { type: "sip", uri: trimmed };
  const number = trimmed.replace(/[\s().+-]/g, "");
  if (!/^\d{6,15}$/.test(number)) {
    throw new CallControlError(
      `vonage: cannot transfer to ${JSON.stringify(target.slice(0, 60))}: give a phone number in E.164 (14155550100) or a SIP URI (sip:user@example.com)`,
      { provider: "vonage" },
    );
  }
  return { type: "phone", number };
}

/** A hang-up answer that means the call had already ended. */
function callIsGone(status: number, text: string): boolean {
  if (status === 404 || status === 410) return true;
  return (
    (status === 400 || status === 409) &&
    /\b(already (completed|ended|terminated|hung ?up)|not (in progress|active)|call (has )?(completed|ended))\b/i.test(
      text,
    )
  );
}

/** "<title>: <detail>" from Vonage's error body (`{type,title,detail,instance}`); undefined when it is not that. */
function errorText(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const { title, detail } = body as { title?: unknown; detail?: unknown };
  const parts = [title, detail].filter((p): p is string => typeof p === "string" && p !== "");
  return parts.length > 0 ? parts.join(": ").slice(0, 300) : undefined;
}

function advice(status: number, action: string): string {
  if (status === 401 || status === 403) {
    return "check applicationId and privateKey (the application's key pair) and that the call belongs to that application";
  }
  if (status === 404) return "the call is gone or belongs to another application";
  if (status === 429) return "Vonage is limiting requests; try again shortly";
  if (status >= 500) return "Vonage's error; try again shortly";
  return action === "transfer" ? "check the transfer target" : "the Voice API refused the request";
}

/** The private key from VONAGE_PRIVATE_KEY: PEM text, or the path of a PEM file. */
function readKeyFromEnv(env: Readonly<Record<string, string | undefined>>): string {
  const value = env["VONAGE_PRIVATE_KEY"]?.trim();
  if (!value) {
    throw new InvalidOptionError(
      "vonage: no private key: pass privateKey (PEM text) or set VONAGE_PRIVATE_KEY to the PEM or to the path of the application's private.key",
    );
  }
  if (value.startsWith("-----BEGIN")) return value.replace(/\\n/g, "\n");
  try {
    return readFileSync(value, "utf8");
  } catch (error) {
    throw new InvalidOptionError(
      `vonage: VONAGE_PRIVATE_KEY is neither a PEM nor a readable file (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
}
