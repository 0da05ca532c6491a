/**
 * runCall attacked on loopback: a REST API that resets every connection, a cancel while the
 * end's hang-up is still waiting for a REST API that never answers, a cancel that overtakes the
 * goodbye. Real sockets, real time, short bounds.
 */
import { once } from "node:events";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  type CancelFrame,
  FrameProcessor,
  OutputTransportMessageUrgentFrame,
  Pipeline,
  PipelineTask,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
} from "../../src/index.js";
import type { DevSession } from "../../src/runner/dev-server-options.js";
import { answerCall } from "../../src/telephony/answer-call.js";
import { type CallOutcome, runCall } from "../../src/telephony/run-call.js";
import { TwilioCallControl } from "../../src/telephony/twilio-call-control.js";
import { memoryLogger } from "../support/logger.js";
import { ACCOUNT_SID, AUTH_TOKEN, twilioStream } from "../support/twilio-fake.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const CLOSE_TIMEOUT_MS = 400;

/** Gives every cancel last words, as the RTVI processor does for a fatal error. */
class Farewell extends FrameProcessor {
  constructor() {
    super({ name: "farewell" });
  }
  protected override cancel(frame: CancelFrame): void {
    frame.addLastWords(new OutputTransportMessageUrgentFrame({ bye: true }));
  }
}

/** A REST API that does `behave` with every request; counts them. */
async function rest(behave: "reset" | "hang"): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server: Server = createServer((req) => {
    requests++;
    if (behave === "reset") req.socket.destroy();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

async function call(restUrl: string, hangUpTimeoutMs: number, lastWords = false) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const { logger, lines } = memoryLogger();
  const cancelled = new AbortController();
  const session: DevSession = {
    id: 1,
    closing: new AbortController().signal,
    cancelled: cancelled.signal,
    telephony: "twilio",
  };
  let taskReady!: (task: PipelineTask) => void;
  const ready = new Promise<PipelineTask>((resolve) => (taskReady = resolve));
  const control = new TwilioCallControl({
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    baseUrl: restUrl,
    env: {},
    timeoutMs: 60_000,
  });
  const result = new Promise<CallOutcome>((resolve, reject) => {
    wss.once("connection", (socket) => {
      void (async () => {
        const answered = await answerCall(socket, "twilio");
        const transport = answered.transport({ params: { closeTimeoutMs: CLOSE_TIMEOUT_MS } });
        const task = new PipelineTask(
          new Pipeline([transport.input(), ...(lastWords ? [new Farewell()] : []), transport.output()]),
          { logger },
        );
        transport.on("clientConnected", () => taskReady(task));
        return runCall(task, session, answered, { control, hangUpTimeoutMs });
      })().then(resolve, reject);
    });
  });
  const twilio = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  cleanups.push(() => twilio.terminate());
  let closedAt: number | undefined;
  twilio.on("close", () => (closedAt = performance.now()));
  await once(twilio, "open");
  twilio.send(twilioStream.connected());
  twilio.send(twilioStream.start());
  const task = await ready;
  return {
    task,
    result,
    lines,
    cancel: () => cancelled.abort(new Error("server shutting down")),
    closedAt: () => closedAt,
    /** Queues `ms` of goodbye and ends the task. */
    goodbye(ms: number) {
      task.queueFrames([
        new TTSStartedFrame(),
        new TTSAudioRawFrame(new Int16Array(24 * ms).fill(2000), 24_000),
        new TTSStoppedFrame(),
      ]);
      void task.stopWhenDone();
    },
  };
}

describe("runCall, attacked", () => {
  it("a REST API that resets the connection: one request, one error line, hungUp false, the socket closes in time", async () => {
    const api = await rest("reset");
    const c = await call(api.url, 2_000);
    c.goodbye(100);
    const t0 = performance.now();
    const { outcome, hungUp } = await c.result;
    expect(outcome.how).toBe("ended");
    expect(hungUp).toBe(false);
    expect(api.requests()).toBeGreaterThanOrEqual(1);
    expect(api.requests()).toBeLessThanOrEqual(2); // a reset before an answer may be retried once by the control
    expect(c.lines.filter((l) => l.level === "error")).toHaveLength(1);
    // The client sees the close when it reaches it: polled up to the bound below (a fixed 50 ms
    // assumed it had by then).
    while (c.closedAt() === undefined && performance.now() - t0 < 100 + CLOSE_TIMEOUT_MS + 1_000)
      await new Promise((r) => setTimeout(r, 10));
    expect(c.closedAt()).toBeDefined();
    expect(c.closedAt()! - t0).toBeLessThan(100 + CLOSE_TIMEOUT_MS + 1_000);
  });

  it("a cancel while the end's hang-up waits on a REST API that never answers: one request, runCall settles within hangUpTimeoutMs", async () => {
    const api = await rest("hang");
    const c = await call(api.url, 1_500);
    c.goodbye(100);
    while (api.requests() === 0) await new Promise((r) => setTimeout(r, 10));
    const hangUpAt = performance.now();
    c.cancel();
    const { hungUp } = await c.result;
    const settledAt = performance.now();
    expect(hungUp).toBe(false);
    expect(api.requests()).toBe(1);
    expect(settledAt - hangUpAt).toBeLessThan(1_500 + 500);
    expect(c.closedAt()).toBeDefined();
    expect(c.closedAt()! - hangUpAt).toBeLessThan(CLOSE_TIMEOUT_MS + 300);
  });

  it("a cancel with last words that overtakes the goodbye hangs up once, after the task, as a cancel (not as the bot's end)", async () => {
    const api = await rest("reset");
    const c = await call(api.url, 2_000, true);
    c.goodbye(1_500);
    await new Promise((r) => setTimeout(r, 300));
    c.cancel();
    const { outcome } = await c.result;
    expect(outcome.how).toBe("cancelled");
    const why = c.lines.filter((l) => /could not hang up/.test(l.message)).map((l) => l.message);
    expect(why).toHaveLength(1);
    expect(why[0]).toMatch(/the task cancelled/);
  });
});
