import { describe, expect, it } from "vitest";
import { EndFrame, TTSAudioRawFrame, TransportConnection } from "../../src/index.js";
import { constant } from "../support/audio.js";
import { CountingMixer } from "../support/mixers.js";
import { startOutput } from "../support/task.js";

const RATE = 24_000;

describe("TransportConnection", () => {
  it("runs the owner's release once, when the last side releases its lease", async () => {
    const released: string[] = [];
    const connection = new TransportConnection({
      name: "c",
      release: (reason) => void released.push(reason),
    });
    const input = connection.acquire("input");
    const output = connection.acquire("output");
    await input.release("input ended");
    expect(released).toEqual([]); // the output is still draining
    expect(connection.closed).toBe(false);
    await output.release("output ended");
    await output.release("again");
    expect(released).toEqual(["output ended"]);
    expect(connection.closed).toBe(true);
    expect(connection.holders).toBe(0);
  });

  it("close() tells every listener once, keeps the first reason, and drops the listeners", () => {
    const connection = new TransportConnection({ name: "c" });
    const heard: string[] = [];
    connection.onClose((r) => heard.push(`a ${r}`));
    const off = connection.onClose((r) => heard.push(`b ${r}`));
    connection.onClose(() => {
      throw new Error("a listener that throws does not stop the others");
    });
    connection.onClose((r) => heard.push(`c ${r}`));
    off();
    connection.close("peer hung up");
    connection.close("again");
    expect(heard).toEqual(["a peer hung up", "c peer hung up"]);
    expect(connection.closeReason).toBe("peer hung up");
    expect(connection.listenerCount).toBe(0);
  });

  it("a listener added after the close hears it on the next microtask", async () => {
    const connection = new TransportConnection({ name: "c" });
    connection.close("gone");
    const heard: string[] = [];
    connection.onClose((r) => heard.push(r));
    expect(heard).toEqual([]);
    await Promise.resolve();
    expect(heard).toEqual(["gone"]);
  });
});

describe("the output on a shared connection", () => {
  it("holds a lease from start to end: the input's release does not close what the output still plays", async () => {
    const s = startOutput(RATE, { audioOutEndSilenceMs: 0 });
    const connection = s.transport.connection;
    await s.whenStarted();
    expect(connection.holders).toBe(1);
    const input = connection.acquire("input");
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE), RATE));
    await input.release("input done");
    expect(connection.closed).toBe(false);
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(s.output.written).toHaveLength(10); // every chunk played before the lease went
    expect(connection.holders).toBe(0);
    expect(connection.closed).toBe(true);
    expect(connection.listenerCount).toBe(0);
  });

  it("closing the connection closes the output's sink at once, with audio queued and a mixer on", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = startOutput(RATE, { audioOutMixer: mixer });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(2_000, RATE), RATE));
    await s.clock.advance(200);
    const writes = s.output.writeCalls;
    s.transport.connection.close("client disconnected");
    expect(s.output.sinkClosed).toBe(true); // at once, before any more time passes
    expect(s.output.sender()!.sinkClosed).toBe(true);
    expect(s.output.sender()!.queuedMs).toBe(0);
    await s.clock.advance(2_000);
    expect(s.output.writeCalls).toBe(writes);
    expect(mixer.active).toBe(false);
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(s.down.frames.at(-1)).toBeInstanceOf(EndFrame);
  });

  it("an output started on a connection that is already closed writes nothing", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = startOutput(RATE, { audioOutMixer: mixer });
    s.transport.closeSink("gone before start");
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE), RATE));
    await s.clock.advance(1_000);
    expect(s.output.writeCalls).toBe(0);
    expect(mixer.calls).toEqual([]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});
