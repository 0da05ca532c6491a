import { createHash, createHmac, generateKeyPairSync, sign } from "node:crypto";
import { request as httpRequest } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { VirtualClock } from "../../src/clock/virtual-clock.js";
import type { Logger } from "../../src/logger.js";
import {
  type DevServer,
  type DevServerOptions,
  type DevSession,
  startDevServer,
} from "../../src/runner/dev-server.js";
import { runDevServer } from "../../src/runner/run-dev-server.js";
import { answerCall } from "../../src/telephony/answer-call.js";
import type { TelephonyProvider } from "../../src/serializers/telephony/telephony-serializer.js";
import { child, parseXml } from "../support/xml.js";
import { closed, openSocket, request, type Reply } from "./http.js";

const servers: DevServer[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close({ graceMs: 0, cancelTimeoutMs: 500 })));
});

interface Served {
  server: DevServer;
  /** `session.telephony` of every session, in order. */
  sessions: (TelephonyProvider | undefined)[];
  base: string;
}

async function serve(options: Partial<DevServerOptions> = {}): Promise<Served> {
  const sessions: (TelephonyProvider | undefined)[] = [];
  const server = await startDevServer({
    port: 0,
    onSession: (_socket, _request, session: DevSession) => void sessions.push(session.telephony),
    ...options,
  });
  servers.push(server);
  return { server, sessions, base: `http://127.0.0.1:${server.port}` };
}

const FORM = { "Content-Type": "application/x-www-form-urlencoded" };

/** What Twilio posts when a call comes in (the fields voicepipe reads, and a few others). */
const twilioForm = (from = "+15550100001", to = "+15550100002"): string =>
  new URLSearchParams({
    CallSid: "CA01",
    AccountSid: "AC01",
    From: from,
    To: to,
    Direction: "inbound",
  }).toString();

function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
  return request(url, { method: "POST", headers: { ...FORM, ...headers }, body });
}

/** The stream URL of a TwiML answer, and its parameters. */
function twimlStream(reply: Reply): { url: string; parameters: Record<string, string> } {
  expect(reply.status, reply.body).toBe(200);
  expect(reply.headers["content-type"]).toBe("text/xml; charset=utf-8");
  const stream = child(child(parseXml(reply.body), "Connect"), "Stream");
  return {
    url: stream.attributes.url!,
    parameters: Object.fromEntries(stream.children.map((p) => [p.attributes.name!, p.attributes.value!])),
  };
}

/** Opens `streamUrl` (whatever host it names) on the test server's loopback port. */
async function openStream(
  served: Served,
  streamUrl: string,
  headers: Record<string, string> = {},
): Promise<{ socket?: WebSocket; status?: number; body?: string }> {
  const path = new URL(streamUrl).pathname + new URL(streamUrl).search;
  const opened = await openSocket(`ws://127.0.0.1:${served.server.port}${path}`, headers);
  if (opened.socket) sockets.push(opened.socket);
  return opened;
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { lines, debug: keep("debug"), info: keep("info"), warn: keep("warn"), error: keep("error") };
}

/**
 * A token as Vonage signs a webhook (HS256 with the signature secret; docs: "Decoding signed
 * webhooks"): claims iat (Unix seconds), jti, iss, payload_hash (SHA-256 hex of the payload:
 * a GET's query parameters as a JSON object, a POST's JSON body), api_key, application_id.
 */
const vonageToken = (secret: string, payload: string, iat: number): string => {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = {
    iat,
    jti: "c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5",
    iss: "Vonage",
    payload_hash: createHash("sha256").update(payload).digest("hex"),
    api_key: "a1b2c3d",
    application_id: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
  };
  const signed = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${signed}.${createHmac("sha256", secret).update(signed).digest("base64url")}`;
};

const twilioSignature = (token: string, url: string, form: string): string => {
  const sorted = [...new URLSearchParams(form)].sort(([a], [b]) => (a < b ? -1 : 1));
  return createHmac("sha1", token)
    .update(url + sorted.map(([k, v]) => k + v).join(""))
    .digest("base64");
};

describe("development server: answer documents", () => {
  it("Twilio: TwiML whose stream is /telephony/twilio/ws on the host the request used, with From and To as parameters", async () => {
    const served = await serve();
    const stream = twimlStream(await post(`${served.base}/telephony/twilio`, twilioForm()));
    expect(stream.url).toBe(`ws://127.0.0.1:${served.server.port}/telephony/twilio/ws`);
    expect(stream.parameters).toStrictEqual({ from_number: "+15550100001", to_number: "+15550100002" });
  });

  it("names wss:// and the tunnel's host when the request came through TLS (X-Forwarded-Proto, X-Forwarded-Host or Host)", async () => {
    const served = await serve();
    const url = `${served.base}/telephony/twilio`;
    const viaHost = twimlStream(
      await post(url, twilioForm(), { "X-Forwarded-Proto": "https", Host: "abc.ngrok.app" }),
    );
    expect(viaHost.url).toBe("wss://abc.ngrok.app/telephony/twilio/ws");
    const viaForwarded = twimlStream(
      await post(url, twilioForm(), {
        "X-Forwarded-Proto": "https,http",
        "X-Forwarded-Host": "calls.example.com",
        Host: "10.0.0.5:7860",
      }),
    );
    expect(viaForwarded.url).toBe("wss://calls.example.com/telephony/twilio/ws");
    // A Host that is not a plain host name never reaches the document.
    const forged = twimlStream(await post(url, twilioForm(), { Host: 'evil"/><x' }));
    expect(forged.url).toBe(`ws://127.0.0.1:${served.server.port}/telephony/twilio/ws`);
  });

  it("uses telephony.publicUrl over whatever the request says", async () => {
    const served = await serve({ telephony: { publicUrl: "https://bot.example.org" } });
    const stream = twimlStream(
      await post(`${served.base}/telephony/twilio`, twilioForm(), { "X-Forwarded-Host": "other.example" }),
    );
    expect(stream.url).toBe("wss://bot.example.org/telephony/twilio/ws");
    expect(served.server.telephonyEndpoints.map((e) => [e.provider, e.method, e.url, e.guard])).toStrictEqual(
      [
        ["twilio", "POST", "https://bot.example.org/telephony/twilio", "open"],
        ["telnyx", "POST", "https://bot.example.org/telephony/telnyx", "open"],
        ["plivo", "POST", "https://bot.example.org/telephony/plivo", "open"],
        ["vonage", "GET", "https://bot.example.org/telephony/vonage/answer", "open"],
        ["exotel", "WebSocket", "wss://bot.example.org/telephony/exotel/ws", "open"],
      ],
    );
  });

  it("Telnyx: TeXML connecting a bidirectional RTP stream, PCMU at 8 kHz", async () => {
    const served = await serve();
    const reply = await post(`${served.base}/telephony/telnyx`, "CallSid=v3%3Aabc&From=%2B1555&To=%2B1666", {
      "X-Forwarded-Proto": "https",
      Host: "abc.ngrok.app",
    });
    expect(reply.status, reply.body).toBe(200);
    const stream = child(child(parseXml(reply.body), "Connect"), "Stream");
    expect(stream.attributes).toStrictEqual({
      url: "wss://abc.ngrok.app/telephony/telnyx/ws",
      bidirectionalMode: "rtp",
      bidirectionalCodec: "PCMU",
      bidirectionalSamplingRate: "8000",
    });
  });

  it("Plivo: XML whose <Stream> text is the URL, μ-law both ways, the call kept alive, From and To as extra headers", async () => {
    const served = await serve();
    const reply = await post(
      `${served.base}/telephony/plivo`,
      "CallUUID=c1&From=%2B15550100001&To=15550100002",
      {
        "X-Forwarded-Proto": "https",
        Host: "abc.ngrok.app",
      },
    );
    expect(reply.status, reply.body).toBe(200);
    const stream = child(parseXml(reply.body), "Stream");
    expect(stream.text).toBe("wss://abc.ngrok.app/telephony/plivo/ws");
    expect(stream.attributes).toStrictEqual({
      bidirectional: "true",
      keepCallAlive: "true",
      contentType: "audio/x-mulaw;rate=8000",
      extraHeaders: "from=15550100001,to=15550100002",
    });
  });

  it("Vonage: an NCCO from GET /telephony/vonage/answer, with the call's uuid, from and to as headers (and from a POST's JSON)", async () => {
    const served = await serve();
    const query = "?uuid=u-1&conversation_uuid=CON-1&from=447700900000&to=447700900001";
    const reply = await request(`${served.base}/telephony/vonage/answer${query}`, {
      headers: { "X-Forwarded-Proto": "https", Host: "abc.ngrok.app" },
    });
    expect(reply.status, reply.body).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/json; charset=utf-8");
    const expected = {
      action: "connect",
      endpoint: [
        {
          type: "websocket",
          uri: "wss://abc.ngrok.app/telephony/vonage/ws",
          "content-type": "audio/l16;rate=16000",
          headers: { call_uuid: "u-1", conversation_uuid: "CON-1", from: "447700900000", to: "447700900001" },
        },
      ],
    };
    expect(reply.json()).toStrictEqual([expected]);
    const viaPost = await post(
      `${served.base}/telephony/vonage/answer`,
      JSON.stringify({ uuid: "u-1", conversation_uuid: "CON-1", from: "447700900000", to: "447700900001" }),
      { "Content-Type": "application/json", "X-Forwarded-Proto": "https", Host: "abc.ngrok.app" },
    );
    expect(viaPost.json()).toStrictEqual([expected]);
  });

  it("keeps markup in From and To as text (XML injection)", async () => {
    const served = await serve();
    const from = `"/><Hangup/><Parameter name="x`;
    const to = "</Stream></Connect><Redirect>https://evil.example</Redirect><!--";
    const reply = await post(`${served.base}/telephony/twilio`, twilioForm(from, to));
    const root = parseXml(reply.body);
    expect(root.children.map((c) => c.name)).toStrictEqual(["Connect"]);
    expect(twimlStream(reply).parameters).toStrictEqual({ from_number: from, to_number: to });
    const plivo = await post(
      `${served.base}/telephony/plivo`,
      new URLSearchParams({ From: from, To: to }).toString(),
    );
    expect(parseXml(plivo.body).children.map((c) => c.name)).toStrictEqual(["Stream"]);
  });
});

describe("development server: telephony streams", () => {
  it("hands each /telephony/<provider>/ws socket to onSession with session.telephony set, and /ws without it", async () => {
    const served = await serve();
    const providers: TelephonyProvider[] = ["twilio", "telnyx", "plivo", "exotel", "vonage"];
    for (const provider of providers) {
      const opened = await openStream(served, `ws://x/telephony/${provider}/ws`);
      expect(opened.socket?.readyState, opened.body).toBe(1);
    }
    const browser = await openStream(served, "ws://x/ws");
    expect(browser.socket?.readyState).toBe(1);
    await expect.poll(() => served.sessions.length).toBe(6);
    expect(served.sessions).toStrictEqual([...providers, undefined]);
  });

  it("takes telephony messages up to telephony.maxMessageBytes, while /ws keeps its own limit", async () => {
    const received: number[] = [];
    const served = await serve({
      maxMessageBytes: 1024,
      telephony: { maxMessageBytes: 4096 },
      onSession: (socket) => void socket.on("message", (data: Buffer) => received.push(data.length)),
    });
    const call = (await openStream(served, "ws://x/telephony/twilio/ws")).socket!;
    const callClosed = closed(call);
    call.send("x".repeat(4000));
    await expect.poll(() => received).toStrictEqual([4000]);
    const browser = (await openStream(served, "ws://x/ws")).socket!;
    const browserClosed = closed(browser);
    browser.send("x".repeat(4000));
    expect(await browserClosed).toBe(1009);
    call.send("x".repeat(5000));
    expect(await callClosed).toBe(1009);
  });

  it("answers 404 to an unknown provider (request and upgrade), says where Exotel's URL goes, 426 to a plain GET of a stream", async () => {
    const served = await serve();
    const unknown = await post(`${served.base}/telephony/skype`, "");
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({
      error: "not-found",
      detail: expect.stringMatching(/no telephony provider "skype"/),
    });
    expect((await openStream(served, "ws://x/telephony/skype/ws")).status).toBe(404);
    expect((await openStream(served, "ws://x/telephony/twilio")).status).toBe(404);
    const exotel = await post(`${served.base}/telephony/exotel`, "");
    expect(exotel.status).toBe(404);
    expect((exotel.json() as { detail: string }).detail).toMatch(/Exotel takes no answer document/);
    const plain = await request(`${served.base}/telephony/twilio/ws`);
    expect(plain.status).toBe(426);
    expect(plain.json()).toMatchObject({ error: "upgrade-required" });
  });

  it("answers 405 with Allow to a wrong method", async () => {
    const served = await serve();
    const get = await request(`${served.base}/telephony/twilio`);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST");
    const del = await request(`${served.base}/telephony/vonage/answer`, { method: "DELETE" });
    expect(del.status).toBe(405);
    expect(del.headers.allow).toBe("GET, POST");
  });

  it("answers 413 to a body over 64 KiB, declared or streamed, and keeps serving", async () => {
    const served = await serve();
    const declared = await post(`${served.base}/telephony/twilio`, "", { "Content-Length": "70000" });
    expect(declared.status).toBe(413);
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${served.base}/telephony/twilio`,
        { method: "POST", headers: { ...FORM, "Transfer-Encoding": "chunked" }, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      for (let i = 0; i < 20; i++) req.write("a".repeat(8192));
      req.end();
    });
    expect(streamed).toBe(413);
    expect((await post(`${served.base}/telephony/twilio`, twilioForm())).status).toBe(200);
  });

  it("answers 503 at the session cap, on the answer route and the stream", async () => {
    const served = await serve({ maxSessions: 1 });
    const first = (await openStream(served, "ws://x/telephony/twilio/ws")).socket!;
    await expect.poll(() => served.server.sessions).toBe(1);
    const answer = await post(`${served.base}/telephony/twilio`, twilioForm());
    expect(answer.status).toBe(503);
    expect(answer.json()).toMatchObject({ error: "session-limit" });
    expect((await openStream(served, "ws://x/telephony/plivo/ws")).status).toBe(503);
    first.close();
    await expect.poll(() => served.server.sessions).toBe(0);
    expect((await post(`${served.base}/telephony/twilio`, twilioForm())).status).toBe(200);
  });

  it("refuses a browser page on another origin (providers send no Origin)", async () => {
    const served = await serve();
    const headers = { Origin: "http://evil.example" };
    expect((await post(`${served.base}/telephony/twilio`, twilioForm(), headers)).status).toBe(403);
    expect((await openStream(served, "ws://x/telephony/twilio/ws", headers)).status).toBe(403);
  });

  it("turns the routes off with telephony: false", async () => {
    const served = await serve({ telephony: false });
    expect((await post(`${served.base}/telephony/twilio`, twilioForm())).status).toBe(404);
    expect((await openStream(served, "ws://x/telephony/twilio/ws")).status).toBe(404);
    expect(served.server.telephonyEndpoints).toStrictEqual([]);
  });
});

describe("development server: Exotel's ?sample-rate=", () => {
  /** The Exotel stream's first messages, declaring `rate` (Exotel's start says the rate its URL chose). */
  const exotelStart = (rate: number): string[] => [
    JSON.stringify({ event: "connected" }),
    JSON.stringify({
      event: "start",
      sequence_number: 1,
      stream_sid: "S1",
      start: {
        stream_sid: "S1",
        call_sid: "C1",
        account_sid: "A1",
        media_format: { encoding: "base64", sample_rate: String(rate), bit_rate: "128kbps" },
      },
    }),
  ];

  it("reaches the session as session.telephonyStream, and answerCall's serializer speaks the stream's rate both ways", async () => {
    const answered: { stream: unknown; inbound: number; outbound: number }[] = [];
    const served = await serve({
      onSession: async (socket, _request, session) => {
        const call = await answerCall(socket, session.telephony!, { stream: session.telephonyStream });
        answered.push({
          stream: session.telephonyStream,
          inbound: call.call.inbound.sampleRate,
          outbound: call.serializer.outbound.sampleRate,
        });
        call.serializer.dispose();
        socket.close();
      },
    });
    for (const [query, rate] of [
      ["", 8000],
      ["?sample-rate=8000", 8000],
      ["?sample-rate=16000", 16_000],
      ["?sample-rate=24000&campaign=spring", 24_000],
    ] as const) {
      const socket = (await openStream(served, `ws://x/telephony/exotel/ws${query}`)).socket!;
      for (const message of exotelStart(rate)) socket.send(message);
      await closed(socket);
    }
    expect(answered).toStrictEqual([
      { stream: {}, inbound: 8000, outbound: 8000 },
      { stream: { sampleRate: 8000 }, inbound: 8000, outbound: 8000 },
      { stream: { sampleRate: 16_000 }, inbound: 16_000, outbound: 16_000 },
      { stream: { sampleRate: 24_000 }, inbound: 24_000, outbound: 24_000 },
    ]);
  });

  it("refuses the stream (400) when the rate is not one Exotel streams at, saying so once; the session never starts", async () => {
    const logger = recordingLogger();
    const served = await serve({ logger });
    for (const query of ["44100", "16k", "", "8000&sample-rate=16000", "0x1F40"]) {
      const opened = await openStream(served, `ws://x/telephony/exotel/ws?sample-rate=${query}`);
      expect(opened.status, query).toBe(400);
      expect(JSON.parse(opened.body!), query).toStrictEqual({
        error: "bad-request",
        detail: expect.stringMatching(/sample-rate.*8000, 16000 or 24000.*Voicebot applet/) as unknown,
      });
    }
    expect(served.sessions).toStrictEqual([]);
    const said = logger.lines.filter((l) => l.includes("sample-rate"));
    expect(said.filter((l) => l.startsWith("warn:"))).toHaveLength(1);
    expect(said.filter((l) => l.startsWith("debug:"))).toHaveLength(4);
    // Only Exotel's URL chooses a rate: another provider's stream ignores the parameter.
    expect(
      (await openStream(served, "ws://x/telephony/twilio/ws?sample-rate=44100")).socket?.readyState,
    ).toBe(1);
  });
});

describe("development server: telephony guards", () => {
  const tunnel = { "X-Forwarded-Proto": "https", Host: "abc.ngrok.app" };
  const signedUrl = "https://abc.ngrok.app/telephony/twilio";

  it("Twilio: answers a request signed with the Auth Token, with a ticket in the stream URL; refuses a wrong or missing signature", async () => {
    const logger = recordingLogger();
    const served = await serve({ telephony: { twilio: { authToken: "tw-token" } }, logger });
    const form = twilioForm();
    const url = `${served.base}/telephony/twilio`;
    const good = await post(url, form, {
      ...tunnel,
      "X-Twilio-Signature": twilioSignature("tw-token", signedUrl, form),
    });
    const stream = twimlStream(good);
    expect(stream.url).toMatch(/^wss:\/\/abc\.ngrok\.app\/telephony\/twilio\/ws\/[A-Za-z0-9_-]{24}$/);
    for (let i = 0; i < 3; i++) {
      const wrong = await post(url, form, {
        ...tunnel,
        "X-Twilio-Signature": twilioSignature("other", signedUrl, form),
      });
      expect(wrong.status).toBe(403);
      expect(wrong.json()).toMatchObject({
        error: "bad-signature",
        detail: expect.stringMatching(/Auth Token/),
      });
    }
    // The signed URL is the one the provider used: signed for another host, refused.
    const otherHost = await post(url, form, {
      ...tunnel,
      "X-Twilio-Signature": twilioSignature("tw-token", "https://other.example/telephony/twilio", form),
    });
    expect(otherHost.status).toBe(403);
    const missing = await post(url, form, tunnel);
    expect(missing.status).toBe(401);
    // Said once at warn level, repeats at debug.
    expect(logger.lines.filter((l) => l.startsWith("warn:") && l.includes("bad-signature"))).toHaveLength(1);
    expect(logger.lines.filter((l) => l.startsWith("debug:") && l.includes("bad-signature"))).toHaveLength(3);
  });

  it("Plivo: answers a request with a valid X-Plivo-Signature-V3, refuses a wrong one", async () => {
    const served = await serve({ telephony: { plivo: { authToken: "pl-token" } } });
    const form = "To=15550100002&From=15550100001&CallUUID=c1";
    const nonce = "12345678901234567890";
    const signature = createHmac("sha256", "pl-token")
      .update(`https://abc.ngrok.app/telephony/plivo?CallUUIDc1From15550100001To15550100002.${nonce}`)
      .digest("base64");
    const url = `${served.base}/telephony/plivo`;
    const good = await post(url, form, {
      ...tunnel,
      "X-Plivo-Signature-V3": signature,
      "X-Plivo-Signature-V3-Nonce": nonce,
    });
    expect(good.status, good.body).toBe(200);
    expect(child(parseXml(good.body), "Stream").text).toMatch(
      /^wss:\/\/abc\.ngrok\.app\/telephony\/plivo\/ws\/[\w-]{24}$/,
    );
    const wrong = await post(url, form, {
      ...tunnel,
      "X-Plivo-Signature-V3": signature,
      "X-Plivo-Signature-V3-Nonce": "1",
    });
    expect(wrong.status).toBe(403);
  });

  it("Telnyx: answers a fresh ed25519 signature over timestamp|body, refuses a stale one and a forged one", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const key = publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
    const clock = new VirtualClock();
    const served = await serve({ clock, telephony: { telnyx: { publicKey: key } } });
    const body = "CallSid=v3%3Aabc&From=%2B1555&To=%2B1666";
    const signed = (seconds: number): Record<string, string> => ({
      "telnyx-timestamp": String(seconds),
      "telnyx-signature-ed25519": sign(null, Buffer.from(`${seconds}|${body}`), privateKey).toString(
        "base64",
      ),
    });
    const url = `${served.base}/telephony/telnyx`;
    const now = Math.floor(new Date().getTime() / 1000);
    const good = await post(url, body, signed(now));
    expect(good.status, good.body).toBe(200);
    const stale = await post(url, body, signed(now - 600));
    expect(stale.status).toBe(403);
    expect((stale.json() as { detail: string }).detail).toMatch(/60[01] s old \(more than 300 s\)/);
    const forged = await post(url, body, { ...signed(now), "telnyx-timestamp": String(now + 1) });
    expect(forged.status).toBe(403);
    // The same request, six minutes later on the server's clock: stale.
    const headers = signed(now);
    await clock.advance(360_000);
    expect((await post(url, body, headers)).status).toBe(403);
  });

  it("Vonage: answers a JWT signed with the signature secret over the query, refuses a missing, forged, stale or tampered one", async () => {
    const logger = recordingLogger();
    const clock = new VirtualClock();
    const served = await serve({
      clock,
      logger,
      telephony: { vonage: { signatureSecret: "vonage-secret" } },
    });
    expect(served.server.telephonyEndpoints.find((e) => e.provider === "vonage")?.guard).toBe("signature");
    const query = "?to=447700900001&from=447700900000&uuid=u-1&conversation_uuid=CON-1";
    const payload = JSON.stringify({
      to: "447700900001",
      from: "447700900000",
      uuid: "u-1",
      conversation_uuid: "CON-1",
    });
    const url = `${served.base}/telephony/vonage/answer${query}`;
    const now = Math.floor(new Date().getTime() / 1000);
    const bearer = (token: string) => ({ ...tunnel, Authorization: `Bearer ${token}` });
    const good = await request(url, { headers: bearer(vonageToken("vonage-secret", payload, now)) });
    expect(good.status, good.body).toBe(200);
    const ncco = good.json() as [{ endpoint: [{ uri: string }] }];
    expect(ncco[0].endpoint[0].uri).toMatch(
      /^wss:\/\/abc\.ngrok\.app\/telephony\/vonage\/ws\/[A-Za-z0-9_-]{24}$/,
    );
    // The same JSON as a POST body.
    const viaPost = await post(`${served.base}/telephony/vonage/answer`, payload, {
      ...bearer(vonageToken("vonage-secret", payload, now)),
      "Content-Type": "application/json",
    });
    expect(viaPost.status, viaPost.body).toBe(200);

    const missing = await request(url, { headers: tunnel });
    expect(missing.status).toBe(401);
    expect(missing.json()).toMatchObject({
      error: "unauthorized",
      detail: expect.stringMatching(/Authorization/),
    });
    for (let i = 0; i < 3; i++) {
      const forged = await request(url, { headers: bearer(vonageToken("other-secret", payload, now)) });
      expect(forged.status).toBe(403);
      expect(forged.json()).toMatchObject({
        error: "bad-signature",
        detail: expect.stringMatching(/signature secret/),
      });
    }
    // Signed for another call: the query was changed on the way.
    const tampered = await request(url.replace("u-1", "u-2"), {
      headers: bearer(vonageToken("vonage-secret", payload, now)),
    });
    expect(tampered.status).toBe(403);
    expect((tampered.json() as { detail: string }).detail).toMatch(/payload_hash/);
    const stale = await request(url, { headers: bearer(vonageToken("vonage-secret", payload, now - 600)) });
    expect(stale.status).toBe(403);
    expect((stale.json() as { detail: string }).detail).toMatch(/issued 60[01] s ago \(more than 300 s\)/);
    // Six minutes later on the server's clock, the good token is stale too.
    await clock.advance(360_000);
    const later = await request(url, { headers: bearer(vonageToken("vonage-secret", payload, now)) });
    expect(later.status).toBe(403);
    // Each reason (missing, mismatch, stale) said once at warn level; the repeats at debug:
    // two forged, the tampered one, the one gone stale.
    const warned = logger.lines.filter(
      (l) => l.startsWith("warn:") && l.includes("refused a vonage request"),
    );
    expect(warned.map((l) => /\((\d+) ([a-z-]+)\)/.exec(l)?.slice(1).join(" "))).toStrictEqual([
      "401 unauthorized",
      "403 bad-signature",
      "403 bad-signature",
    ]);
    expect(
      logger.lines.filter((l) => l.startsWith("debug:") && l.includes("refused a vonage request")),
    ).toHaveLength(4);
  });

  it("a ticket opens one stream, of its provider; the bare stream path is refused while the route is guarded", async () => {
    const served = await serve({ telephony: { twilio: { authToken: "tw-token" } } });
    const form = twilioForm();
    const answer = async (): Promise<string> =>
      twimlStream(
        await post(`${served.base}/telephony/twilio`, form, {
          ...tunnel,
          "X-Twilio-Signature": twilioSignature("tw-token", signedUrl, form),
        }),
      ).url;
    const streamUrl = await answer();
    const first = await openStream(served, streamUrl);
    expect(first.socket?.readyState, first.body).toBe(1);
    const again = await openStream(served, streamUrl);
    expect(again.status).toBe(401);
    expect(JSON.parse(again.body!)).toMatchObject({
      error: "bad-ticket",
      detail: expect.stringMatching(/already used/),
    });
    const bare = await openStream(served, "wss://x/telephony/twilio/ws");
    expect(bare.status).toBe(401);
    expect(JSON.parse(bare.body!).detail).toMatch(/needs the ticket of an answer document/);
    // A Twilio ticket on Telnyx's path: refused when Telnyx's route is guarded (see the token test);
    // here Plivo has no secret and there is no token, so its route is open and takes any path.
    const ticket = new URL(await answer()).pathname.split("/").pop()!;
    expect((await openStream(served, `wss://x/telephony/plivo/ws/${ticket}`)).socket?.readyState).toBe(1);
    await expect.poll(() => served.sessions).toStrictEqual(["twilio", "plivo"]);
  });

  it("a ticket expires after telephony.ticketTtlMs on the server's clock", async () => {
    const clock = new VirtualClock();
    const served = await serve({
      clock,
      telephony: { twilio: { authToken: "tw-token" }, ticketTtlMs: 30_000 },
    });
    const form = twilioForm();
    const headers = { ...tunnel, "X-Twilio-Signature": twilioSignature("tw-token", signedUrl, form) };
    const url = `${served.base}/telephony/twilio`;
    const inTime = twimlStream(await post(url, form, headers)).url;
    const late = twimlStream(await post(url, form, headers)).url;
    await clock.advance(30_000);
    expect((await openStream(served, inTime)).socket?.readyState).toBe(1);
    await clock.advance(1);
    const refused = await openStream(served, late);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body!).detail).toMatch(/expired/);
  });

  it("with a token and no provider secret: the answer route needs ?token=, Exotel's stream too; the token also opens a stream", async () => {
    const served = await serve({ token: "s3cret" });
    const url = `${served.base}/telephony/twilio`;
    const refused = await post(url, twilioForm());
    expect(refused.status).toBe(401);
    expect((refused.json() as { detail: string }).detail).toMatch(/\/telephony\/twilio\?token=<token>/);
    const streamUrl = twimlStream(await post(`${url}?token=s3cret`, twilioForm())).url;
    expect(streamUrl).toMatch(/\/telephony\/twilio\/ws\/[\w-]{24}$/);
    expect((await openStream(served, streamUrl)).socket?.readyState).toBe(1);
    const exotel = await openStream(served, "ws://x/telephony/exotel/ws");
    expect(exotel.status).toBe(401);
    expect(JSON.parse(exotel.body!).detail).toMatch(/\?token=<token>/);
    expect((await openStream(served, "ws://x/telephony/exotel/ws?token=s3cret")).socket?.readyState).toBe(1);
    expect((await openStream(served, "ws://x/telephony/vonage/ws?token=s3cret")).socket?.readyState).toBe(1);
    expect((await openStream(served, "ws://x/telephony/vonage/ws?token=wrong")).status).toBe(401);
    expect(served.server.telephonyEndpoints.map((e) => e.guard)).toStrictEqual([
      "token",
      "token",
      "token",
      "token",
      "token",
    ]);
    await expect.poll(() => served.sessions).toStrictEqual(["twilio", "exotel", "vonage"]);
  });

  it("refuses to start with a clear error on a bad setting", async () => {
    await expect(serve({ telephony: { publicUrl: "https://x.example/path" } })).rejects.toThrow(
      /telephony\.publicUrl \(--public-url, VOICEPIPE_PUBLIC_URL\) must be an http\(s\) origin/,
    );
    await expect(serve({ telephony: { telnyx: { publicKey: "abc" } } })).rejects.toThrow(/TELNYX_PUBLIC_KEY/);
    await expect(serve({ telephony: { twilio: { authToken: "" } } })).rejects.toThrow(
      /telephony\.twilio\.authToken \(TWILIO_AUTH_TOKEN\) must be a non-empty string/,
    );
    await expect(serve({ telephony: { vonage: { signatureSecret: " " } } })).rejects.toThrow(
      /telephony\.vonage\.signatureSecret \(VONAGE_SIGNATURE_SECRET\) must be a non-empty string/,
    );
    await expect(serve({ telephony: { ticketTtlMs: 0 } })).rejects.toThrow(
      /telephony\.ticketTtlMs must be a whole number/,
    );
  });

  it("runDevServer takes the secrets and the public URL from the environment and --public-url; options win; an empty variable is unset", async () => {
    const out: string[] = [];
    const { server, stopped } = await runDevServer({
      argv: ["--port", "0", "--public-url", "https://flag.example"],
      env: {
        TWILIO_AUTH_TOKEN: "tw",
        PLIVO_AUTH_TOKEN: "",
        VONAGE_SIGNATURE_SECRET: "vs",
        VOICEPIPE_PUBLIC_URL: "https://env.example",
      },
      telephony: {
        telnyx: {
          publicKey: generateKeyPairSync("ed25519")
            .publicKey.export({ format: "pem", type: "spki" })
            .toString(),
        },
      },
      out: { write: (text: string) => out.push(text) },
      onSession: () => undefined,
    });
    try {
      expect(server.telephonyEndpoints.map((e) => [e.provider, e.guard, e.url])).toStrictEqual([
        ["twilio", "signature", "https://flag.example/telephony/twilio"],
        ["telnyx", "signature", "https://flag.example/telephony/telnyx"],
        ["plivo", "open", "https://flag.example/telephony/plivo"],
        ["vonage", "signature", "https://flag.example/telephony/vonage/answer"],
        ["exotel", "open", "wss://flag.example/telephony/exotel/ws"],
      ]);
      expect(out.join("")).toContain(
        "Twilio phone number › Voice › A call comes in (Webhook, HTTP POST): https://flag.example/telephony/twilio (signature checked)",
      );
    } finally {
      await server.close({ graceMs: 0 });
      await stopped;
    }
  });
});
