import { readFileSync } from "node:fs";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";
import { type WireFrame, frameCodec, readProtoFile } from "../../src/serializers/protobuf/schema.js";

const protoFile = new URL("../../src/serializers/protobuf/frames.proto", import.meta.url);

/** The byte-level vectors of Pipecat's frames.proto (hand-encoded, docs/design/serializers.md). */
const vectors: { name: string; frame: WireFrame; hex: string }[] = [
  { name: "text", frame: { text: { text: "hi" } }, hex: "0a 04 1a 02 68 69" },
  { name: "message", frame: { message: { data: "{}" } }, hex: "22 04 0a 02 7b 7d" },
  {
    name: "audio",
    frame: {
      audio: { audio: new Uint8Array([0x00, 0x00, 0xff, 0x7f]), sample_rate: 16000, num_channels: 1 },
    },
    hex: "12 0b 1a 04 00 00 ff 7f 20 80 7d 28 01",
  },
  { name: "empty interruption", frame: { interruption: {} }, hex: "2a 00" },
  {
    name: "interruption with id and name",
    frame: { interruption: { id: 42, name: "InterruptionFrame#1" } },
    hex: "2a 17 08 2a 12 13 49 6e 74 65 72 72 75 70 74 69 6f 6e 46 72 61 6d 65 23 31",
  },
  {
    name: "transcription",
    frame: { transcription: { text: "hello", user_id: "user-1", timestamp: "2026-01-01T00:00:00.000Z" } },
    hex:
      "1a 29 1a 05 68 65 6c 6c 6f 22 06 75 73 65 72 2d 31 2a 18 32 30 32 36 2d 30 31 2d 30 31 54 30 30 3a 30 30 " +
      "3a 30 30 2e 30 30 30 5a",
  },
];

const bytes = (hex: string): Buffer => Buffer.from(hex.replaceAll(" ", ""), "hex");

describe("frames.proto", () => {
  it("a schema file that cannot be read is an error naming the file and what to do", () => {
    const missing = new URL("./no-such-schema.proto", protoFile);
    expect(() => readProtoFile(missing)).toThrow(
      /cannot read the protobuf schema .*no-such-schema\.proto \(.*ENOENT.*\); .*reinstall voicepipe, or run `npm run build`/,
    );
  });

  it("declares Pipecat's messages with Pipecat's field numbers and types", () => {
    const root = protobuf.parse(readFileSync(protoFile, "utf8"), { keepCase: true }).root;
    const fields = (type: string): Record<string, string> => {
      const t = root.lookupType(`pipecat.${type}`);
      return Object.fromEntries(t.fieldsArray.map((f) => [f.name, `${f.id} ${f.type}`]));
    };
    expect(fields("TextFrame")).toEqual({ id: "1 uint64", name: "2 string", text: "3 string" });
    expect(fields("AudioRawFrame")).toEqual({
      id: "1 uint64",
      name: "2 string",
      audio: "3 bytes",
      sample_rate: "4 uint32",
      num_channels: "5 uint32",
      pts: "6 uint64",
    });
    expect(fields("TranscriptionFrame")).toEqual({
      id: "1 uint64",
      name: "2 string",
      text: "3 string",
      user_id: "4 string",
      timestamp: "5 string",
    });
    expect(fields("MessageFrame")).toEqual({ data: "1 string" });
    expect(fields("InterruptionFrame")).toEqual({ id: "1 uint64", name: "2 string" });
    expect(fields("Frame")).toEqual({
      text: "1 TextFrame",
      audio: "2 AudioRawFrame",
      transcription: "3 TranscriptionFrame",
      message: "4 MessageFrame",
      interruption: "5 InterruptionFrame",
    });
    const frame = root.lookupType("pipecat.Frame");
    expect(frame.oneofsArray.map((o) => [o.name, o.fieldsArray.map((f) => f.name)])).toEqual([
      ["frame", ["text", "audio", "transcription", "message", "interruption"]],
    ]);
    // `optional`: pts alone has explicit presence (a proto3 synthetic oneof), so a pts of 0 is sent when set.
    const audio = root.lookupType("pipecat.AudioRawFrame");
    expect(audio.fieldsArray.filter((f) => f.partOf !== null).map((f) => [f.name, f.partOf?.name])).toEqual([
      ["pts", "_pts"],
    ]);
  });

  describe("byte-level vectors", () => {
    for (const v of vectors) {
      it(`encodes ${v.name} to exactly ${v.hex}`, () => {
        expect(Buffer.from(frameCodec().encode(v.frame)).toString("hex")).toBe(bytes(v.hex).toString("hex"));
      });
      it(`decodes ${v.hex} to ${v.name}`, () => {
        const decoded = frameCodec().decode(bytes(v.hex));
        const kind = Object.keys(v.frame)[0] as keyof WireFrame;
        expect(decoded.frame).toBe(kind);
        const got = decoded[kind] as Record<string, unknown>;
        const want = v.frame[kind] as Record<string, unknown>;
        for (const [key, value] of Object.entries(want)) {
          const actual = got[key];
          if (value instanceof Uint8Array)
            expect(Buffer.from(actual as Uint8Array)).toEqual(Buffer.from(value));
          else if (key === "id") expect(Number(String(actual))).toBe(value);
          else expect(actual).toBe(value);
        }
      });
    }
  });

  it("writes pts only when set, and a pts of 0 when it is 0 (explicit presence)", () => {
    const hex = (frame: WireFrame): string => Buffer.from(frameCodec().encode(frame)).toString("hex");
    expect(hex({ audio: { sample_rate: 16000 } })).toBe("1203" + "20807d");
    expect(hex({ audio: { sample_rate: 16000, pts: 0 } })).toBe("1205" + "20807d" + "3000");
    // 1.5 s in ns = 1_500_000_000 = varint 80 de a0 cb 05 (7-bit groups, low first).
    expect(hex({ audio: { pts: 1_500_000_000 } })).toBe("1206" + "3080dea0cb05");
  });

  it("keeps the last oneof member when a message carries two, as proto3 parsers must", () => {
    const textThenMessage = Buffer.concat([bytes("0a 04 1a 02 68 69"), bytes("22 04 0a 02 7b 7d")]);
    const decoded = frameCodec().decode(textThenMessage);
    expect(decoded.frame).toBe("message");
    expect(decoded.text ?? undefined).toBeUndefined();
  });
});
