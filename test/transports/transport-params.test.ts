import { describe, expect, it } from "vitest";
import {
  FrameProcessor,
  InvalidOptionError,
  MemoryTransport,
  Pipeline,
  PipelineTask,
  type TransportParams,
  VirtualClock,
} from "../../src/index.js";
import { resolveTransportParams } from "../../src/transports/transport-params.js";
import { resolvePipelineParams } from "../../src/pipeline/task-options.js";
import { CountingMixer } from "../support/mixers.js";

const clock = new VirtualClock();

function outputWith(params: Record<string, unknown>): MemoryTransport {
  return new MemoryTransport({ params: { audioOutEnabled: true, ...params } as Partial<TransportParams> });
}

describe("TransportParams are checked where they are given", () => {
  it.each([
    ["audioOutSampleRate", 50],
    ["audioOutSampleRate", 0],
    ["audioOutSampleRate", Number.NaN],
    ["audioOutSampleRate", 44_100.5],
    ["audioOutSampleRate", 1_000_000],
    ["audioInSampleRate", -16_000],
  ])("refuses %s = %s at construction, naming the setting and the accepted range", (key, value) => {
    expect(() => outputWith({ [key]: value })).toThrow(InvalidOptionError);
    expect(() => outputWith({ [key]: value })).toThrow(new RegExp(`${key} must be .*from 1000 to 768000`));
  });

  it.each([
    ["audioOutChannels", 0, /audioOutChannels must be an integer from 1 to 16/],
    ["audioOutChannels", 1.5, /audioOutChannels must be an integer from 1 to 16/],
    ["audioInChannels", 99, /audioInChannels must be an integer from 1 to 16/],
    ["audioOut10msChunks", 0, /audioOut10msChunks must be an integer from 1 to 100/],
    ["audioOut10msChunks", Number.NaN, /audioOut10msChunks must be an integer from 1 to 100/],
    ["audioOutMaxCatchUpChunks", 0, /audioOutMaxCatchUpChunks must be an integer from 1 to 100/],
    ["audioOutEndSilenceMs", Number.NaN, /audioOutEndSilenceMs must be a number of ms from 0/],
    ["audioOutEndSilenceMs", Number.POSITIVE_INFINITY, /audioOutEndSilenceMs must be a number of ms/],
    ["audioOutEndSilenceMs", -1, /audioOutEndSilenceMs must be a number of ms from 0/],
    ["audioOutWriteTimeoutMs", 0, /audioOutWriteTimeoutMs must be a number of ms from 1/],
    ["audioOutMixerTimeoutMs", Number.NaN, /audioOutMixerTimeoutMs must be a number of ms from 1/],
    ["botSpeakingFallbackMs", 0, /botSpeakingFallbackMs must be a number of ms from 1/],
    ["audioOutEnabled", "yes", /audioOutEnabled must be true or false/],
  ])("refuses %s = %s", (key, value, message) => {
    expect(() => outputWith({ [key]: value })).toThrow(message);
  });

  it("refuses audioOutMaxQueuedMs below one chunk (0 used to be accepted and nothing was ever written)", () => {
    expect(() => outputWith({ audioOutMaxQueuedMs: 0 })).toThrow(
      /audioOutMaxQueuedMs must be at least one chunk \(40 ms with audioOut10msChunks = 4\)/,
    );
    expect(() => outputWith({ audioOutMaxQueuedMs: 19, audioOut10msChunks: 2 })).toThrow(
      /at least one chunk \(20 ms/,
    );
    expect(outputWith({ audioOutMaxQueuedMs: 40 }).output().params.audioOutMaxQueuedMs).toBe(40);
  });

  it("refuses a misspelt setting instead of ignoring it, suggesting the right name", () => {
    expect(() => outputWith({ audioOutSamplerate: 16_000 })).toThrow(
      /TransportParams has no setting "audioOutSamplerate"; did you mean "audioOutSampleRate"\?/,
    );
  });

  it("refuses bad destination names", () => {
    expect(() => outputWith({ audioOutDestinations: ["a", "a"] })).toThrow(/names "a" twice/);
    expect(() => outputWith({ audioOutDestinations: [""] })).toThrow(/non-empty string/);
  });

  it("accepts the defaults and every rate the resampler converts", () => {
    expect(resolveTransportParams({}).audioOut10msChunks).toBe(4);
    for (const rate of [1_000, 8_000, 11_025, 22_050, 44_100, 48_000, 96_000, 768_000]) {
      expect(resolveTransportParams({ audioOutSampleRate: rate }).audioOutSampleRate).toBe(rate);
    }
  });
});

describe("TransportParams.audioOutMixer is checked when it is given", () => {
  it("refuses a mixer without `active` (it would silently never be called)", () => {
    const noActive = {
      start() {},
      stop() {},
      processFrame() {},
      mix: (a: Int16Array) => a,
    };
    expect(() => outputWith({ audioOutMixer: noActive })).toThrow(
      /audioOutMixer is not an AudioMixer: it has no active\b.*without `active` the output would never call it/,
    );
  });

  it("refuses a mixer without mix() or start(), and a non-object", () => {
    expect(() =>
      outputWith({ audioOutMixer: { active: true, start() {}, stop() {}, processFrame() {} } }),
    ).toThrow(/has no mix\(\)/);
    expect(() => outputWith({ audioOutMixer: 42 })).toThrow(/must be an AudioMixer/);
  });

  it("refuses one mixer object for several destinations, in either form", () => {
    const mixer = new CountingMixer(clock);
    expect(() => outputWith({ audioOutMixer: mixer, audioOutDestinations: ["avatar"] })).toThrow(
      /is one mixer, but the output has 2 destinations .*Give a map with one mixer per destination/,
    );
    expect(() =>
      outputWith({ audioOutMixer: { "": mixer, avatar: mixer }, audioOutDestinations: ["avatar"] }),
    ).toThrow(/the same mixer object is given for destinations "" and "avatar"/);
  });

  it("refuses a mixer for a destination the output does not have", () => {
    expect(() => outputWith({ audioOutMixer: { avatar: new CountingMixer(clock) } })).toThrow(
      /mixer for destination "avatar", which is not an output destination/,
    );
  });

  it("accepts one mixer per destination", () => {
    const params = resolveTransportParams({
      audioOutMixer: { "": new CountingMixer(clock), avatar: new CountingMixer(clock) },
      audioOutDestinations: ["avatar"],
    });
    expect(Object.keys(params.audioOutMixer as object)).toEqual(["", "avatar"]);
  });
});

describe("PipelineTask params are checked (they were not checked at all)", () => {
  const task = (params: Record<string, unknown>) =>
    new PipelineTask(new Pipeline([new FrameProcessor()]), { params, clock });

  it.each([
    ["audioOutSampleRate", 50],
    ["audioOutSampleRate", 0],
    ["audioOutSampleRate", Number.NaN],
    ["audioInSampleRate", 16_000.5],
  ])("refuses %s = %s at construction, naming the setting and the range", (key, value) => {
    expect(() => task({ [key]: value })).toThrow(
      new RegExp(`PipelineTask params\\.${key} must be an integer sample rate in Hz from 1000 to 768000`),
    );
  });

  it("refuses non-positive heartbeat periods, non-boolean flags and unknown keys", () => {
    expect(() => task({ heartbeatsPeriodMs: 0 })).toThrow(/heartbeatsPeriodMs must be a number of ms from 1/);
    expect(() => task({ enableHeartbeats: 1 })).toThrow(/enableHeartbeats must be true or false/);
    expect(() => task({ audioOutRate: 16_000 })).toThrow(/has no setting "audioOutRate"/);
  });

  it("fills in the defaults", () => {
    expect(resolvePipelineParams({ audioOutSampleRate: 16_000 })).toMatchObject({
      audioInSampleRate: 16_000,
      audioOutSampleRate: 16_000,
      heartbeatsPeriodMs: 1_000,
    });
  });
});
