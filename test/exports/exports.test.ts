import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as {
  exports: Record<string, string | { types: string; default: string }>;
};

describe("package exports (run after `npm run build`)", () => {
  it("every exports entry resolves to a built file, with types", () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === "string") {
        expect(existsSync(`${root}${target}`), `${subpath} -> ${target}`).toBe(true);
        continue;
      }
      expect(existsSync(`${root}${target.default}`), `${subpath} -> ${target.default}`).toBe(true);
      expect(existsSync(`${root}${target.types}`), `${subpath} -> ${target.types}`).toBe(true);
    }
  });

  it("the package imports by name, as a user would", async () => {
    const require = createRequire(import.meta.url);
    expect(require.resolve("voicepipe/package.json")).toContain("package.json");
    // Specifiers in variables: the typecheck runs before the build, when dist/ does not exist yet.
    const mainSpecifier = "voicepipe";
    const testingSpecifier = "voicepipe/testing";
    const main = (await import(mainSpecifier)) as Record<string, unknown>;
    expect(typeof main["PipelineTask"]).toBe("function");
    expect(typeof main["VirtualClock"]).toBe("function");
    // Internals stay internal: users build on processors, tasks and transports, not on these.
    for (const internal of [
      "MediaSender",
      "ObserverDispatcher",
      "FrameQueue",
      "resolveTransportParams",
      "resolvePipelineParams",
      "TypedEvents",
      "flattenProcessors",
      "PaceLimiter",
      "turnStore",
    ]) {
      expect(main[internal], internal).toBeUndefined();
    }
    const testing = (await import(testingSpecifier)) as Record<string, unknown>;
    expect(typeof testing["runTest"]).toBe("function");
    const sileroSpecifier = "voicepipe/audio/vad/silero";
    const silero = (await import(sileroSpecifier)) as Record<string, unknown>;
    expect(typeof silero["SileroVADAnalyzer"]).toBe("function");
    const rtviSpecifier = "voicepipe/rtvi";
    const rtvi = (await import(rtviSpecifier)) as Record<string, unknown>;
    expect(typeof rtvi["RTVIProcessor"]).toBe("function");
    const serializersSpecifier = "voicepipe/serializers";
    const serializers = (await import(serializersSpecifier)) as Record<string, unknown>;
    expect(typeof serializers["ProtobufFrameSerializer"]).toBe("function");
    const contextSpecifier = "voicepipe/context";
    const context = (await import(contextSpecifier)) as Record<string, unknown>;
    expect(typeof context["toAnthropicRequest"]).toBe("function");
    const deepgramSpecifier = "voicepipe/deepgram";
    const deepgram = (await import(deepgramSpecifier)) as Record<string, unknown>;
    expect(typeof deepgram["DeepgramSTTService"]).toBe("function");
    const openaiSpecifier = "voicepipe/openai";
    const openai = (await import(openaiSpecifier)) as Record<string, unknown>;
    expect(typeof openai["OpenAILLMService"]).toBe("function");
    const anthropicSpecifier = "voicepipe/anthropic";
    const anthropic = (await import(anthropicSpecifier)) as Record<string, unknown>;
    expect(typeof anthropic["AnthropicLLMService"]).toBe("function");
    const geminiSpecifier = "voicepipe/gemini";
    const gemini = (await import(geminiSpecifier)) as Record<string, unknown>;
    expect(typeof gemini["GeminiLLMService"]).toBe("function");
    const telephonySpecifier = "voicepipe/telephony";
    const telephony = (await import(telephonySpecifier)) as Record<string, unknown>;
    expect(typeof telephony["answerCall"]).toBe("function");
    expect(typeof telephony["TwilioFrameSerializer"]).toBe("function");
    for (const name of [
      "ExotelFrameSerializer",
      "VonageFrameSerializer",
      "VonageCallControl",
      "CallControlError",
    ]) {
      expect(typeof telephony[name], name).toBe("function");
    }
    expect(typeof telephony["TelnyxFrameSerializer"]).toBe("function");
    expect(typeof telephony["TelnyxCallControl"]).toBe("function");
  });

  it("the built serializer reads its schema from dist/ and decodes a frame; the tarball ships the schema", async () => {
    // The schema is read beside the built module on first use: this fails if the build did not copy it.
    const serializersSpecifier = "voicepipe/serializers";
    const mainSpecifier = "voicepipe";
    const { ProtobufFrameSerializer } = (await import(serializersSpecifier)) as {
      ProtobufFrameSerializer: new () => {
        deserialize(data: Uint8Array): { ok: boolean; frames?: { text?: string }[] };
        serialize(frame: unknown): Uint8Array | undefined;
      };
    };
    const { TextFrame } = (await import(mainSpecifier)) as { TextFrame: new (text: string) => unknown };
    const serializer = new ProtobufFrameSerializer();
    // pipecat.Frame { text: TextFrame { text: "hi" } }, Pipecat's bytes.
    const decoded = serializer.deserialize(Uint8Array.from([0x0a, 0x04, 0x1a, 0x02, 0x68, 0x69]));
    expect(decoded.ok).toBe(true);
    expect(decoded.frames?.map((f) => f.text)).toEqual(["hi"]);
    expect(serializer.serialize(new TextFrame("hi"))?.length).toBeGreaterThan(0);
    expect(readFileSync(`${root}dist/serializers/protobuf/frames.proto`, "utf8")).toBe(
      readFileSync(`${root}src/serializers/protobuf/frames.proto`, "utf8"),
    );
    // What `npm pack` would put in the tarball (scripts skipped: dist/ is already built).
    const packed = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: root,
      encoding: "utf8",
    });
    const files = (JSON.parse(packed) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toContain("dist/serializers/protobuf/frames.proto");
    expect(files).toContain("dist/serializers/protobuf/schema.js");
  });

  it("the published declarations keep internals out, and nothing points at unshipped sources", async () => {
    const { readdirSync } = await import("node:fs");
    const files = (readdirSync(`${root}dist`, { recursive: true }) as string[]).map(
      (f) => `${root}dist/${f}`,
    );
    for (const file of files.filter((f) => f.endsWith(".d.ts"))) {
      expect(readFileSync(file, "utf8"), file).not.toMatch(/@internal/);
    }
    for (const file of files.filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"))) {
      expect(readFileSync(file, "utf8"), file).not.toMatch(/sourceMappingURL/);
    }
  });

  it("src/index.ts names every export (no export *)", () => {
    const index = readFileSync(`${root}src/index.ts`, "utf8");
    expect(index).not.toMatch(/export \*/);
  });
});
