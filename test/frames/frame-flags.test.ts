import { describe, expect, it } from "vitest";
import { DataFrame, FrameFlags, SystemFrame } from "../../src/frames/frame.js";
import { InputAudioRawFrame, OutputAudioRawFrame, TTSAudioRawFrame } from "../../src/frames/audio.js";

// The flags are worked out once per class and kept on the class: a subclass made after its parent
// must get its own, not inherit the parent's (static properties are inherited).
class Parent extends DataFrame {}
class KeptChild extends Parent {
  static override readonly uninterruptible: boolean = true;
}
class SystemChild extends SystemFrame {}
class Grandchild extends KeptChild {
  static override readonly uninterruptible = false;
}

describe("Frame fields", () => {
  it("a subclass gets its own flags, whichever class was made first", () => {
    expect(new Parent().schedulingFlags).toBe(0);
    expect(new KeptChild().schedulingFlags).toBe(FrameFlags.UNINTERRUPTIBLE);
    expect(new Grandchild().schedulingFlags).toBe(0);
    expect(new Parent().schedulingFlags).toBe(0);
    expect(new SystemChild().schedulingFlags).toBe(FrameFlags.SYSTEM);
    expect(new KeptChild().uninterruptible).toBe(true);
  });

  it("every frame has the same own fields, set in the constructor", () => {
    const a = new InputAudioRawFrame(new Int16Array(4), 16_000);
    const b = new TTSAudioRawFrame(new Int16Array(2), 24_000, 2);
    expect(b.id).toBeGreaterThan(a.id);
    for (const frame of [a, b, new OutputAudioRawFrame(new Int16Array(2), 24_000)]) {
      expect(Object.keys(frame)).toEqual(
        expect.arrayContaining([
          "id",
          "schedulingFlags",
          "pts",
          "transportSource",
          "transportDestination",
          "broadcastSiblingId",
          "audio",
          "sampleRate",
          "numChannels",
        ]),
      );
      expect(frame.pts).toBeUndefined();
    }
    expect(a.numChannels).toBe(1);
    expect(b.numChannels).toBe(2);
    expect(b.contextId).toBeUndefined();
    expect(a.metadata).toEqual({});
    a.metadata.x = 1;
    expect(a.metadata).toEqual({ x: 1 });
  });
});
