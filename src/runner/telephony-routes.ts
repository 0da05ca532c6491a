import type { KeyObject } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../clock/clock.js";
import { InvalidOptionError } from "../errors.js";
import type { Logger } from "../logger.js";
import { wallClockOrigin } from "../serializers/wall-clock.js";
import {
  DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES,
  type TelephonyProvider,
} from "../serializers/telephony/telephony-serializer.js";
import {
  plivoStreamXml,
  telnyxStreamTexml,
  twilioStreamTwiml,
  vonageStreamNcco,
} from "../telephony/answer-documents.js";
import { type CallStreamOptions, readStreamUrl } from "../telephony/stream-url.js";
import {
  type SignatureCheck,
  checkPlivoSignature,
  checkTelnyxSignature,
  checkTwilioSignature,
  checkVonageSignature,
  telnyxPublicKey,
} from "../telephony/webhook-signatures.js";
import type { DevServerTelephony, DevServerTelephonyEndpoint } from "./dev-server-options.js";
import { type ErrorBody, requestToken, sendJson, tokensEqual } from "./http-edge.js";
import { checkPublicUrl } from "./server-args.js";
import { StreamTickets } from "./stream-tickets.js";
import { DEV_SERVER_PROVIDERS, type TelephonyTarget, answerPath, socketPath } from "./telephony-paths.js";
import {
  WEBHOOK_BODY_LIMIT_BYTES,
  readBody,
  requestOrigin,
  requestParams,
  sendDocument,
  tooLarge,
} from "./webhook-request.js";

type Refusal = { status: number; body: ErrorBody };

/** What {@link TelephonyRoutes} needs from the server. */
export interface TelephonyRoutesOptions {
  config: DevServerTelephony;
  /** The server's bearer token, if any. */
  token: string | undefined;
  clock: Clock;
  logger: Logger;
  /** Why a request is refused now before any guard: closing (503), a browser origin not allowed (403), the session cap (503). */
  edge: (req: IncomingMessage, url: URL) => Refusal | undefined;
  /** The server's own `host:port`, for URLs when the request names no host. */
  listeningHost: () => string;
}

/** Where each provider's URL goes in its console, for the startup lines. */
const WHERE: Readonly<Record<TelephonyProvider, string>> = {
  twilio: "phone number › Voice › A call comes in (Webhook, HTTP POST)",
  telnyx: "TeXML application › Voice URL (POST)",
  plivo: "application › Answer URL (POST)",
  vonage: "application › Voice › Answer URL (GET)",
  exotel: "Voicebot applet › URL",
};

/**
 * The telephony side of the development server (docs/design/dev-server.md, "Phone calls"): each
 * provider's answer route (`POST /telephony/twilio`, … `GET /telephony/vonage/answer`) checks the
 * provider's signature when its secret is configured (else the server's token, else nothing),
 * and answers the document that points the call at `/telephony/<provider>/ws`, with a single-use
 * ticket in the path when the route is guarded; the session host asks {@link admit} before
 * accepting such a socket.
 */
export class TelephonyRoutes {
  readonly maxMessageBytes: number;
  readonly #options: TelephonyRoutesOptions;
  readonly #publicUrl: URL | undefined;
  readonly #twilioToken: string | undefined;
  readonly #plivoToken: string | undefined;
  readonly #vonageSecret: string | undefined;
  readonly #telnyxKey: KeyObject | undefined;
  readonly #tickets: StreamTickets;
  /** Unix time in ms at which the clock read 0 (Telnyx's and Vonage's signatures carry Unix time). */
  readonly #wallOriginMs: number;
  /** Refusals already said at warn level (provider and reason): repeats go to debug. */
  readonly #said = new Set<string>();

  /** @throws InvalidOptionError naming the setting that is wrong. */
  constructor(options: TelephonyRoutesOptions) {
    this.#options = options;
    const { config } = options;
    this.#publicUrl = config.publicUrl === undefined ? undefined : checkPublicUrl(config.publicUrl);
    this.#twilioToken = secret("telephony.twilio.authToken (TWILIO_AUTH_TOKEN)", config.twilio?.authToken);
    this.#plivoToken = secret("telephony.plivo.authToken (PLIVO_AUTH_TOKEN)", config.plivo?.authToken);
    this.#vonageSecret = secret(
      "telephony.vonage.signatureSecret (VONAGE_SIGNATURE_SECRET)",
      config.vonage?.signatureSecret,
    );
    const telnyx = secret("telephony.telnyx.publicKey (TELNYX_PUBLIC_KEY)", config.telnyx?.publicKey);
    this.#telnyxKey = telnyx === undefined ? undefined : telnyxPublicKey(telnyx);
    this.maxMessageBytes = whole(
      "telephony.maxMessageBytes",
      config.maxMessageBytes,
      DEFAULT_TELEPHONY_MAX_MESSAGE_BYTES,
    );
    const ttlMs = whole("telephony.ticketTtlMs", config.ticketTtlMs, 60_000);
    this.#tickets = new StreamTickets(options.clock, ttlMs);
    this.#wallOriginMs = wallClockOrigin(options.clock);
  }

  /** What guards `provider`'s routes: its signature, the server's token, or nothing. */
  guard(provider: TelephonyProvider): DevServerTelephonyEndpoint["guard"] {
    if (this.#secretOf(provider)) return "signature";
    return this.#options.token === undefined ? "open" : "token";
  }

  /** Every provider's route, on `publicUrl` or else on `localUrl` (the server's own). */
  endpoints(localUrl: string): DevServerTelephonyEndpoint[] {
    const base = new URL(this.#publicUrl?.origin ?? localUrl);
    return DEV_SERVER_PROVIDERS.map((provider) => {
      const answer = answerPath(provider);
      const ws = base.protocol === "https:" ? "wss:" : "ws:";
      return {
        provider,
        where: WHERE[provider],
        method: answer === undefined ? "WebSocket" : provider === "vonage" ? "GET" : "POST",
        url: answer === undefined ? `${ws}//${base.host}${socketPath(provider)}` : `${base.origin}${answer}`,
        guard: this.guard(provider),
      };
    });
  }

  /** A plain HTTP request under `/telephony/`. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL, target: TelephonyTarget): void {
    if (target.kind === "unknown") return sendJson(res, 404, { error: "not-found", detail: target.detail });
    const { provider } = target;
    if (target.kind === "socket")
      return sendJson(res, 426, {
        error: "upgrade-required",
        detail: `${url.pathname} is ${provider}'s media stream, a WebSocket that ${provider} opens from the answer document${answerPath(provider) ? ` (${answerPath(provider)})` : ""}`,
      });
    const methods = provider === "vonage" ? ["GET", "POST"] : ["POST"];
    if (!methods.includes(req.method ?? ""))
      return sendJson(
        res,
        405,
        {
          error: "method-not-allowed",
          detail: `${req.method} ${url.pathname} is not allowed; ${provider} calls it with ${methods.join(" or ")}`,
        },
        { Allow: methods.join(", ") },
      );
    const refused = this.#options.edge(req, url);
    if (refused) return sendJson(res, refused.status, refused.body);
    if (Number(req.headers["content-length"] ?? 0) > WEBHOOK_BODY_LIMIT_BYTES) return tooLarge(res);
    void this.#answer(req, res, url, provider).catch((error: unknown) => {
      this.#options.logger.error(`dev-server: answering a ${provider} call failed`, { error });
      if (!res.headersSent)
        sendJson(res, 500, {
          error: "internal",
          detail: "the server failed to answer the call; see its log",
        });
    });
  }

  /**
   * Whether a socket on `provider`'s stream path may open (asked after closing and origin, before
   * the session cap): an open route takes any; a guarded one takes a ticket the server issued,
   * once and in time, or the server's token (`?token=`; Exotel's only way, as its URL is fixed).
   */
  admit(
    provider: TelephonyProvider,
    ticket: string | undefined,
    req: IncomingMessage,
    url: URL,
  ): Refusal | undefined {
    const guard = this.guard(provider);
    if (guard === "open") return undefined;
    const { token } = this.#options;
    if (token !== undefined && tokensEqual(requestToken(req, url), token)) return undefined;
    if (provider === "exotel")
      return this.#refuse(provider, "no-token", 401, {
        error: "unauthorized",
        detail: `the server has a token: Exotel's stream URL needs it, as ${socketPath(provider)}?token=<token> in the Voicebot applet`,
      });
    if (ticket === undefined)
      return this.#refuse(provider, "no-ticket", 401, {
        error: "bad-ticket",
        detail: `${socketPath(provider)} needs the ticket of an answer document (${socketPath(provider, "<ticket>")}): point ${provider} at ${answerPath(provider)}, not at the socket`,
      });
    const outcome = this.#tickets.redeem(provider, ticket);
    if (outcome === "ok") return undefined;
    const why = {
      unknown: "was never issued or was already used (a ticket opens one stream)",
      expired: `expired (tickets last ${this.#options.config.ticketTtlMs ?? 60_000} ms, telephony.ticketTtlMs)`,
      "other-provider": "was issued for another provider",
    }[outcome];
    return this.#refuse(provider, `ticket-${outcome}`, 401, {
      error: "bad-ticket",
      detail: `the stream ticket ${why}; the call must fetch a new answer document from ${answerPath(provider)}`,
    });
  }

  /**
   * What `provider`'s stream URL chose (Exotel's `?sample-rate=`), or a refusal (400
   * `bad-request`) naming the parameter and the rates Exotel streams at; said once per provider at
   * warn level, then at debug.
   */
  stream(provider: TelephonyProvider, url: URL): { options: CallStreamOptions } | { refused: Refusal } {
    const reading = readStreamUrl(provider, url);
    if (reading.ok) return { options: reading.options };
    return {
      refused: this.#refuse(provider, "bad-stream-url", 400, {
        error: "bad-request",
        detail: reading.detail,
      }),
    };
  }

  async #answer(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    provider: TelephonyProvider,
  ): Promise<void> {
    const body = await readBody(req, WEBHOOK_BODY_LIMIT_BYTES);
    if (body === "aborted") return;
    if (body === "too-large") return tooLarge(res);
    const params = requestParams(req, url, body);
    const refused = this.#verify(provider, req, url, body, params);
    if (refused) return sendJson(res, refused.status, refused.body);
    let ticket: string | undefined;
    if (this.guard(provider) !== "open") {
      ticket = this.#tickets.issue(provider);
      if (ticket === undefined)
        return sendJson(res, 503, {
          error: "too-many-calls",
          detail: `${this.#tickets.waiting} answered calls have not opened their stream yet; try again in a minute`,
        });
    }
    const origin = this.#origin(req);
    const streamUrl = `${origin.protocol === "https:" ? "wss:" : "ws:"}//${origin.host}${socketPath(provider, ticket)}`;
    const value = (name: string): string | undefined => params.find(([key]) => key === name)?.[1];
    const defined = (entries: [string, string | undefined][]): Record<string, string> =>
      Object.fromEntries(entries.filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""));
    this.#options.logger.debug(`dev-server: answering a ${provider} call with ${socketPath(provider)}`);
    switch (provider) {
      case "twilio":
        return sendDocument(
          res,
          twilioStreamTwiml({
            streamUrl,
            parameters: defined([
              ["from_number", value("From")],
              ["to_number", value("To")],
            ]),
          }),
        );
      case "telnyx":
        return sendDocument(res, telnyxStreamTexml({ streamUrl }));
      case "plivo":
        return sendDocument(
          res,
          plivoStreamXml({
            streamUrl,
            extraHeaders: defined([
              ["from", value("From")],
              ["to", value("To")],
            ]),
          }),
        );
      case "vonage": {
        const headers = defined([
          ["call_uuid", value("uuid")],
          ["conversation_uuid", value("conversation_uuid")],
          ["from", value("from")],
          ["to", value("to")],
        ]);
        return sendDocument(res, vonageStreamNcco({ streamUrl, headers }), "application/json; charset=utf-8");
      }
      case "exotel":
        // No answer route (telephonyTarget never names one).
        return sendJson(res, 404, { error: "not-found", detail: "Exotel takes no answer document" });
    }
  }

  /** Checks the provider's signature when its secret is set, else the server's token; undefined when the request may have an answer. */
  #verify(
    provider: TelephonyProvider,
    req: IncomingMessage,
    url: URL,
    body: Buffer,
    params: readonly (readonly [string, string])[],
  ): Refusal | undefined {
    const header = (name: string): string | undefined => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const signedUrl = `${this.#origin(req).origin}${req.url ?? "/"}`;
    let check: SignatureCheck | undefined;
    if (provider === "twilio" && this.#twilioToken !== undefined)
      check = checkTwilioSignature({
        authToken: this.#twilioToken,
        url: signedUrl,
        params,
        signature: header("x-twilio-signature"),
      });
    else if (provider === "plivo" && this.#plivoToken !== undefined)
      check = checkPlivoSignature({
        authToken: this.#plivoToken,
        method: req.method === "GET" ? "GET" : "POST",
        url: signedUrl,
        params: req.method === "GET" ? [] : params,
        nonce: header("x-plivo-signature-v3-nonce"),
        signature: header("x-plivo-signature-v3"),
      });
    else if (provider === "telnyx" && this.#telnyxKey !== undefined)
      check = checkTelnyxSignature({
        publicKey: this.#telnyxKey,
        signature: header("telnyx-signature-ed25519"),
        timestamp: header("telnyx-timestamp"),
        body,
        nowMs: this.#wallOriginMs + this.#options.clock.now(),
      });
    else if (provider === "vonage" && this.#vonageSecret !== undefined)
      check = checkVonageSignature({
        signatureSecret: this.#vonageSecret,
        authorization: header("authorization"),
        method: req.method === "GET" ? "GET" : "POST",
        url: signedUrl,
        body,
        nowMs: this.#wallOriginMs + this.#options.clock.now(),
      });
    if (check !== undefined) {
      if (check.valid) return undefined;
      const status = check.reason === "missing" ? 401 : 403;
      return this.#refuse(provider, check.reason, status, {
        error: check.reason === "missing" ? "unauthorized" : "bad-signature",
        detail: check.detail,
      });
    }
    const { token } = this.#options;
    if (token !== undefined && !tokensEqual(requestToken(req, url), token))
      return this.#refuse(provider, "token", 401, {
        error: "unauthorized",
        detail: `the server has a token and no ${provider} secret: put ${answerPath(provider)}?token=<token> in ${provider}'s console, or configure ${provider}'s secret to check its signature instead`,
      });
    return undefined;
  }

  /** Where the provider reached the server: `publicUrl`, else what a tunnel says, else the request's Host. */
  #origin(req: IncomingMessage): URL {
    return this.#publicUrl ?? requestOrigin(req, this.#options.listeningHost);
  }

  #secretOf(provider: TelephonyProvider): boolean {
    if (provider === "twilio") return this.#twilioToken !== undefined;
    if (provider === "plivo") return this.#plivoToken !== undefined;
    if (provider === "telnyx") return this.#telnyxKey !== undefined;
    if (provider === "vonage") return this.#vonageSecret !== undefined;
    return false;
  }

  /** A refusal, said once at warn level per provider and reason (then at debug: a flood stays quiet). */
  #refuse(provider: TelephonyProvider, reason: string, status: number, body: ErrorBody): Refusal {
    const key = `${provider}:${reason}`;
    const line = `dev-server: refused a ${provider} request (${status} ${body.error}): ${body.detail}`;
    if (this.#said.has(key)) this.#options.logger.debug(line);
    else {
      this.#said.add(key);
      this.#options.logger.warn(`${line} (said once; repeats are logged at debug)`);
    }
    return { status, body };
  }
}

function secret(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "")
    throw new InvalidOptionError(
      `${name} must be a non-empty string, or left out to answer that provider without checking its signature`,
    );
  return value;
}

function whole(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidOptionError(
      `${name} must be a whole number ≥ 1 (got ${String(value)}); leave it out for ${fallback}`,
    );
  return value;
}
