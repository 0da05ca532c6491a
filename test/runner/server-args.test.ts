import { describe, expect, it } from "vitest";
import { parseServerArgs } from "../../src/runner/server-args.js";

describe("parseServerArgs", () => {
  it("defaults to 127.0.0.1:7860", () => {
    expect(parseServerArgs([], {})).toStrictEqual({ host: "127.0.0.1", port: 7860, rest: [] });
  });

  it("reads --port and --host in both spellings, before PORT, and leaves other arguments", () => {
    expect(
      parseServerArgs(["--port", "8080", "--verbose", "--host=0.0.0.0"], { PORT: "9000" }),
    ).toStrictEqual({
      host: "0.0.0.0",
      port: 8080,
      rest: ["--verbose"],
    });
    expect(parseServerArgs([], { PORT: "9000" }).port).toBe(9000);
    expect(parseServerArgs(["--port=0"], {}).port).toBe(0);
  });

  it("reads --public-url in both spellings, else VOICEPIPE_PUBLIC_URL (an empty one counts as unset)", () => {
    expect(
      parseServerArgs(["--public-url", "https://a.example"], { VOICEPIPE_PUBLIC_URL: "https://b.example" }),
    ).toStrictEqual({
      host: "127.0.0.1",
      port: 7860,
      publicUrl: "https://a.example",
      rest: [],
    });
    expect(parseServerArgs(["--public-url=https://a.example"], {}).publicUrl).toBe("https://a.example");
    expect(parseServerArgs([], { VOICEPIPE_PUBLIC_URL: "https://b.example" }).publicUrl).toBe(
      "https://b.example",
    );
    expect(parseServerArgs([], { VOICEPIPE_PUBLIC_URL: "" })).not.toHaveProperty("publicUrl");
    expect(() => parseServerArgs(["--public-url"], {})).toThrow(
      "--public-url needs a value, e.g. --public-url https://abc.ngrok.app",
    );
  });

  it("names the flag or variable and the bad value", () => {
    expect(() => parseServerArgs(["--port", "eighty"], {})).toThrow(
      '--port must be a TCP port number 0–65535 (got "eighty")',
    );
    expect(() => parseServerArgs([], { PORT: "70000" })).toThrow(
      'PORT must be a TCP port number 0–65535 (got "70000")',
    );
    expect(() => parseServerArgs(["--host"], {})).toThrow("--host needs a value");
    expect(() => parseServerArgs(["--port", "--host", "x"], {})).toThrow("--port needs a value");
  });
});
