/**
 * Loopback stand-ins for Twilio, written from Twilio's documentation (protocols.md §2.1):
 *
 * - {@link startTwilioRest}: the Calls resource of the REST API
 *   (`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`, Basic auth, a form body). It
 *   checks each request as Twilio documents it and answers as Twilio does (the call's JSON, or
 *   `{code, message, more_info, status}`).
 * - {@link twilioStream}: the media-stream messages Twilio sends (`connected`, `start`, `media`,
 *   `dtmf`, `mark`, `stop`).
 */
import { once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

export const ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef";
export const AUTH_TOKEN = "0123456789abcdef0123456789abcdef";
export const CALL_SID = "CA00000000000000000000000000000001";
export const STREAM_SID = "MZ00000000000000000000000000000001";

/** One request the fake received, with what it checked. */
export interface TwilioRestRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly body: string;
  /** The form fields of the body. */
  readonly form: Record<string, string>;
}

/** How the fake answers; the default is Twilio's behaviour for the calls it knows. */
export type TwilioRestBehaviour =
  | { kind: "twilio" }
  /** Never answers (headers never sent). */
  | { kind: "hang" }
  /** Answers this status and JSON body. */
  | { kind: "status"; status: number; body: unknown };

export interface TwilioRest {
  readonly baseUrl: string;
  readonly requests: TwilioRestRequest[];
  /** Calls in progress; a hang-up moves a call out, later requests for it get 20404. */
  readonly liveCalls: Set<string>;
  /** Answers of the next requests, in order; when empty, `behaviour` answers. */
  readonly next: TwilioRestBehaviour[];
  behaviour: TwilioRestBehaviour;
  /** Called with each request the moment it has been received whole, before it is answered. */
  onRequest: ((request: TwilioRestRequest) => void) | undefined;
  close(): Promise<void>;
}

const CALLS_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Calls\/([^/]+)\.json$/;

/** A loopback Twilio REST API for `ACCOUNT_SID`/`AUTH_TOKEN`, knowing `CALL_SID` as in progress. */
export async function startTwilioRest(): Promise<TwilioRest> {
  const requests: TwilioRestRequest[] = [];
  const liveCalls = new Set([CALL_SID]);
  const next: TwilioRestBehaviour[] = [];
  const state = {
    behaviour: { kind: "twilio" } as TwilioRestBehaviour,
    onRequest: undefined as ((request: TwilioRestRequest) => void) | undefined,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const record: TwilioRestRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        body,
        form: Object.fromEntries(new URLSearchParams(body)),
      };
      requests.push(record);
      state.onRequest?.(record);
      const behaviour = next.shift() ?? state.behaviour;
      if (behaviour.kind === "hang") return; // the socket is destroyed by close()
      if (behaviour.kind === "status") return json(res, behaviour.status, behaviour.body);
      answerAsTwilio(req, res, record, liveCalls);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    liveCalls,
    next,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(value) {
      state.behaviour = value;
    },
    get onRequest() {
      return state.onRequest;
    },
    set onRequest(value) {
      state.onRequest = value;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answerAsTwilio(
  _req: IncomingMessage,
  res: ServerResponse,
  request: TwilioRestRequest,
  liveCalls: Set<string>,
): void {
  const match = CALLS_PATH.exec(request.path);
  if (request.method !== "POST" || !match) {
    return json(res, 404, twilioError(20404, "The requested resource was not found", 404));
  }
  const expected = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString("base64")}`;
  if (request.authorization !== expected || match[1] !== ACCOUNT_SID) {
    return json(res, 401, twilioError(20003, "Authenticate", 401));
  }
  if (request.contentType !== "application/x-www-form-urlencoded") {
    return json(res, 400, twilioError(20001, "Unsupported content type", 400));
  }
  const sid = match[2]!;
  if (!liveCalls.has(sid)) {
    return json(res, 404, twilioError(20404, `The requested resource ${request.path} was not found`, 404));
  }
  const { Status, Twiml } = request.form;
  if (Status !== undefined && Status !== "completed" && Status !== "canceled") {
    return json(res, 400, twilioError(21218, "Invalid 'Status' parameter", 400));
  }
  if (Status === undefined && Twiml === undefined) {
    return json(res, 400, twilioError(21201, "No 'Url', 'Twiml' or 'Status' given", 400));
  }
  if (Status !== undefined) liveCalls.delete(sid);
  json(res, 200, {
    sid,
    account_sid: ACCOUNT_SID,
    status: Status ?? "in-progress",
    api_version: "2010-04-01",
  });
}

function twilioError(code: number, message: string, status: number): unknown {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

// ---------------------------------------------------------------------------------- stream messages

/** The messages Twilio sends on a `<Connect><Stream>` socket, as the docs show them. */
export const twilioStream = {
  connected: (): string => JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }),
  start: (
    options: {
      callSid?: string;
      customParameters?: Record<string, string>;
      mediaFormat?: { encoding: string; sampleRate: number; channels: number };
    } = {},
  ): string =>
    JSON.stringify({
      event: "start",
      sequenceNumber: "1",
      streamSid: STREAM_SID,
      start: {
        streamSid: STREAM_SID,
        accountSid: ACCOUNT_SID,
        callSid: options.callSid ?? CALL_SID,
        tracks: ["inbound"],
        customParameters: options.customParameters ?? {
          from_number: "+15550100001",
          to_number: "+15550100002",
        },
        mediaFormat: options.mediaFormat ?? { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    }),
  media: (
    sequence: number,
    payload: Uint8Array | string,
    track: "inbound" | "outbound" = "inbound",
  ): string =>
    JSON.stringify({
      event: "media",
      sequenceNumber: String(sequence + 2),
      streamSid: STREAM_SID,
      media: {
        track,
        chunk: String(sequence + 1),
        timestamp: String(sequence * 20),
        payload: typeof payload === "string" ? payload : Buffer.from(payload).toString("base64"),
      },
    }),
  dtmf: (digit: string, sequence = 40): string =>
    JSON.stringify({
      event: "dtmf",
      sequenceNumber: String(sequence),
      streamSid: STREAM_SID,
      dtmf: { track: "inbound_track", digit },
    }),
  mark: (name: string, sequence = 41): string =>
    JSON.stringify({
      event: "mark",
      sequenceNumber: String(sequence),
      streamSid: STREAM_SID,
      mark: { name },
    }),
  stop: (sequence = 900): string =>
    JSON.stringify({
      event: "stop",
      sequenceNumber: String(sequence),
      streamSid: STREAM_SID,
      stop: { accountSid: ACCOUNT_SID, callSid: CALL_SID },
    }),
};
