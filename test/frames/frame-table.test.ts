import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as frames from "../../src/frames/index.js";
import { Frame } from "../../src/frames/frame.js";

interface Row {
  lane: string;
  uninterruptible: boolean;
}

function readTable(): Map<string, Row> {
  const text = readFileSync(new URL("../../src/frames/README.md", import.meta.url), "utf8");
  const rows = new Map<string, Row>();
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 5 || !/^[A-Z]\w*Frame$/.test(cells[1] ?? "")) continue;
    rows.set(cells[1]!, { lane: cells[2]!, uninterruptible: cells[3] === "yes" });
  }
  return rows;
}

function exportedFrameClasses(): Map<string, typeof Frame> {
  const out = new Map<string, typeof Frame>();
  for (const [name, value] of Object.entries(frames)) {
    if (typeof value === "function" && value.prototype instanceof Frame)
      out.set(name, value as unknown as typeof Frame);
  }
  return out;
}

describe("frames/README.md table", () => {
  it("lists every exported frame class with its real lane and interruptibility", () => {
    const table = readTable();
    const classes = exportedFrameClasses();
    expect(classes.size).toBeGreaterThan(40);
    for (const [name, cls] of classes) {
      expect(table.get(name), `${name} is missing from src/frames/README.md`).toEqual({
        lane: cls.lane,
        uninterruptible: cls.uninterruptible,
      });
    }
    for (const name of table.keys())
      expect(classes.has(name), `${name} is in the table but not exported`).toBe(true);
  });

  it("marks the frames docs/design/interruption.md names as uninterruptible", () => {
    for (const cls of [
      frames.EndFrame,
      frames.FunctionCallResultFrame,
      frames.FunctionCallInProgressFrame,
      frames.ServiceUpdateSettingsFrame,
    ]) {
      expect(cls.uninterruptible, cls.name).toBe(true);
    }
    expect(frames.InputAudioRawFrame.lane).toBe("system");
    expect(frames.OutputAudioRawFrame.lane).toBe("data");
    expect(frames.HeartbeatFrame.lane).toBe("control");
  });

  it("gives frames increasing ids and readable names", () => {
    const a = new frames.TextFrame("a");
    const b = new frames.TextFrame("b");
    expect(b.id).toBeGreaterThan(a.id);
    expect(a.name).toBe(`TextFrame#${a.id}`);
  });

  it("rejects audio frames with inconsistent fields, saying what to do", () => {
    expect(() => new frames.InputAudioRawFrame(new Int16Array(3), 16_000, 2)).toThrow(
      /whole number of 2-channel/,
    );
    expect(() => new frames.OutputAudioRawFrame(new Int16Array(4), 0)).toThrow(
      /sampleRate must be a positive integer/,
    );
    expect(() => new frames.InputAudioRawFrame(new Uint8Array(4) as unknown as Int16Array, 16_000)).toThrow(
      /must be an Int16Array.*convert a Buffer/,
    );
  });
});
