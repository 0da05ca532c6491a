/**
 * A phone call on loopback: a real ws server, a client that plays the provider (it sends what the
 * test tells it and records what voicepipe sends back), `answerCall` and its transport, and a
 * task [input, recorder, output].
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import { type Clock, Pipeline, PipelineTask, type TaskOutcome } from "../../src/index.js";
import type {
  TelephonyProvider,
  TelephonySerializer,
} from "../../src/serializers/telephony/telephony-serializer.js";
import { type CallTransportOptions, answerCall } from "../../src/telephony/answer-call.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { memoryLogger } from "../support/logger.js";

/** One message the provider received from voicepipe. */
export interface ProviderReceived {
  readonly data: Buffer;
  readonly isBinary: boolean;
  /** `clock.now()` when it arrived. */
  readonly atMs: number;
}

export interface LoopbackCallOptions {
  /** The messages the provider sends first (they describe the call). */
  readonly opening: readonly (string | Uint8Array)[];
  readonly clock: Clock;
  readonly serializer?: () => TelephonySerializer;
  readonly transport?: CallTransportOptions;
}

/** Runs a call; `close()` ends everything it started. */
export async function loopbackCall(provider: TelephonyProvider, options: LoopbackCallOptions) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  const port = (wss.address() as AddressInfo).port;
  const answered = new Promise<Awaited<ReturnType<typeof answerCall>>>((resolve, reject) => {
    wss.once("connection", (socket) => {
      answerCall(socket, provider, {
        clock: options.clock,
        ...(options.serializer ? { serializer: options.serializer } : {}),
      }).then(resolve, reject);
    });
  });
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  const received: ProviderReceived[] = [];
  client.on("message", (data: Buffer, isBinary: boolean) => {
    received.push({ data, isBinary, atMs: options.clock.now() });
  });
  await once(client, "open");
  for (const message of options.opening) client.send(message);
  const call = await answered;
  const transport = call.transport(options.transport);
  const recorder = new FrameRecorder();
  const { logger, lines } = memoryLogger();
  const task = new PipelineTask(new Pipeline([transport.input(), recorder, transport.output()]), {
    clock: options.clock,
    logger,
    idleTimeoutMs: null,
  });
  const started = new Promise<void>((resolve) => task.on("pipelineStarted", () => resolve()));
  let outcome: TaskOutcome | undefined;
  const done = task.run().then((o) => (outcome = o));
  await started;
  return {
    call,
    client,
    transport,
    task,
    recorder,
    received,
    lines,
    done,
    outcome: () => outcome,
    async close(): Promise<void> {
      client.terminate();
      await task.cancel("test over");
      await done;
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
