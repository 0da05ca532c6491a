import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { UserStartedSpeakingFrame } from "../../src/index.js";
import { RTVIClientReadyFrame } from "../../src/frames/rtvi.js";
import { RTVI_ABOUT, RTVI_PROTOCOL_VERSION } from "../../src/processors/rtvi/index.js";
import { startRtvi } from "./support.js";

describe("RTVI ready handshake", () => {
  it("answers client-ready with bot-ready carrying the same id and protocol version 2.1.0", async () => {
    const h = startRtvi();
    await h.whenStarted();
    const ready: unknown[] = [];
    h.rtvi.on("clientReady", (c) => void ready.push(c));
    await h.send({
      label: "rtvi-ai",
      type: "client-ready",
      id: "a1b2c3d4",
      data: { version: "2.1.0", about: { library: "@pipecat-ai/client-js", library_version: "1.13.1" } },
    });
    expect(h.messages()).toEqual([
      {
        label: "rtvi-ai",
        type: "bot-ready",
        id: "a1b2c3d4",
        data: { version: RTVI_PROTOCOL_VERSION, about: { library: "voicepipe", library_version: "0.1.0" } },
      },
    ]);
    expect(RTVI_PROTOCOL_VERSION).toBe("2.1.0");
    expect(h.output.sent[0]!.urgent).toBe(true);
    expect(h.rtvi.clientReady).toBe(true);
    expect(h.rtvi.client?.version).toBe("2.1.0");
    expect(ready).toEqual([
      { version: "2.1.0", about: { library: "@pipecat-ai/client-js", library_version: "1.13.1" } },
    ]);
    expect(h.down.ofType(RTVIClientReadyFrame)).toHaveLength(1);
    await h.end();
  });

  it("says which voicepipe it is: RTVI_ABOUT follows package.json", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      name: string;
      version: string;
    };
    expect(RTVI_ABOUT).toEqual({ library: pkg.name, library_version: pkg.version });
  });

  it("answers a repeated client-ready again with its own id, but reports the client ready once", async () => {
    const h = startRtvi();
    await h.whenStarted();
    let readyEvents = 0;
    h.rtvi.on("clientReady", () => void readyEvents++);
    await h.ready("first");
    await h.ready("second");
    expect(h.ofType("bot-ready").map((m) => m.id)).toEqual(["first", "second"]);
    expect(readyEvents).toBe(1);
    expect(h.down.ofType(RTVIClientReadyFrame)).toHaveLength(1);
    await h.end();
  });

  it("serves a 1.x client in its own version and refuses other majors with an error-response naming the version", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.send(h.client("client-ready", { version: "3.0.0" }, "v3"));
    expect(h.rtvi.clientReady).toBe(false);
    expect(h.messages()).toEqual([
      {
        label: "rtvi-ai",
        type: "error-response",
        id: "v3",
        data: { error: expect.stringMatching(/RTVI version 3\.0\.0 is not supported.*2\.1\.0/) as unknown },
      },
    ]);
    await h.send(h.client("client-ready", { version: "1.2.0" }, "v1"));
    expect(h.ofType("bot-ready")).toEqual([
      { label: "rtvi-ai", type: "bot-ready", id: "v1", data: { version: "1.2.0", about: { ...RTVI_ABOUT } } },
    ]);
    await h.end();
  });

  it("refuses a client-ready without a version, saying what it needs", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.send(h.client("client-ready", { about: {} }, "nov"));
    expect(h.messages()).toEqual([
      {
        label: "rtvi-ai",
        type: "error-response",
        id: "nov",
        data: { error: "client-ready data.version must be a string (got undefined)" },
      },
    ]);
    await h.send(h.client("client-ready", { version: "two" }, "bad"));
    expect(h.ofType("error-response")[1]!.data).toEqual({
      error: 'client-ready data.version must look like "2.1.0" (got two)',
    });
    expect(h.rtvi.clientReady).toBe(false);
    await h.end();
  });

  it("holds reports back until the client is ready, then sends them after bot-ready, in order", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.queue(new UserStartedSpeakingFrame());
    expect(h.messages()).toEqual([]);
    expect(h.rtvi.heldMessages).toBe(1);
    await h.ready("r");
    expect(h.messages().map((m) => m.type)).toEqual(["bot-ready", "user-started-speaking"]);
    expect(h.rtvi.heldMessages).toBe(0);
    await h.end();
  });

  it("keeps at most maxHeldMessages while the client is not ready, dropping the oldest with one warning", async () => {
    const h = startRtvi({ rtvi: { maxHeldMessages: 3 } });
    await h.whenStarted();
    for (let i = 0; i < 10; i++) h.rtvi.sendServerMessage({ i });
    await h.clock.settle();
    expect(h.rtvi.heldMessages).toBe(3);
    expect(h.rtvi.droppedHeldMessages).toBe(7);
    await h.ready();
    expect(h.ofType("server-message").map((m) => m.data)).toEqual([{ i: 7 }, { i: 8 }, { i: 9 }]);
    await h.end();
  });
});
