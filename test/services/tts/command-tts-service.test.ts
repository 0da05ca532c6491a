import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ErrorFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  MetricsFrame,
  TextFrame,
  TTSAudioRawFrame,
  TTSSpeakFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  TTSTextFrame,
} from "../../../src/index.js";
import { runTest } from "../../../src/testing/index.js";
import { CommandTTSService } from "../../../src/services/tts/command-tts-service.js";
import { espeakNgCommand, fliteCommand, piperCommand } from "../../../src/services/tts/tts-commands.js";
import { TTSBinaryNotFoundError, TTSModelNotFoundError } from "../../../src/services/tts/tts-errors.js";
import { audioMs, describeFrames, processHandles, scriptDir, watchRuns } from "./support.js";

const onPath = (binary: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${binary}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

const baseline = processHandles();
afterEach(() => {
  expect(processHandles()).toEqual(baseline); // no child process or pipe outlives a test
});

function tokens(text: string, size: number): LLMTextFrame[] {
  const out: LLMTextFrame[] = [];
  for (let i = 0; i < text.length; i += size) out.push(new LLMTextFrame(text.slice(i, i + size)));
  return out;
}

describe("CommandTTSService with espeak-ng", () => {
  it("speaks an LLM response: started, each sentence's audio then its text, stopped; audio as long as the words", async () => {
    const tts = new CommandTTSService({ command: espeakNgCommand() });
    const runs = watchRuns(tts);
    const answer = "The weather is fine today. Take a **light** jacket with you!";
    const { down, up } = await runTest(tts, {
      framesToSend: [new LLMFullResponseStartFrame(), ...tokens(answer, 3), new LLMFullResponseEndFrame()],
    });
    expect(up).toEqual([]);
    expect(describeFrames(down)).toEqual([
      "LLMFullResponseStartFrame",
      "TTSStartedFrame",
      "TTSAudioRawFrame*",
      "TTSTextFrame(The weather is fine today. )",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Take a **light** jacket with you!)",
      "TTSStoppedFrame",
      "LLMFullResponseEndFrame",
    ]);
    const audio = down.filter((f): f is TTSAudioRawFrame => f instanceof TTSAudioRawFrame);
    const contextId = (down.find((f) => f instanceof TTSStartedFrame) as TTSStartedFrame).contextId;
    expect(contextId).toBeDefined();
    expect(
      audio.every((f) => f.sampleRate === 24_000 && f.numChannels === 1 && f.contextId === contextId),
    ).toBe(true);
    expect((down.find((f) => f instanceof TTSStoppedFrame) as TTSStoppedFrame).contextId).toBe(contextId);
    // 11 words at 175 words a minute ≈ 3.8 s, plus pauses at the sentence ends.
    const ms = audioMs(down);
    expect(ms).toBeGreaterThan(2_500);
    expect(ms).toBeLessThan(6_500);
    // The check at start, then one run per sentence; all reaped, none killed.
    expect(runs.started).toHaveLength(3);
    expect(runs.ended.every((r) => r.reaped && !r.killed && r.code === 0)).toBe(true);
    // Metrics: characters of speakable text (markdown removed), and one TTFB per response.
    const metrics = down.filter((f): f is MetricsFrame => f instanceof MetricsFrame).flatMap((f) => f.data);
    expect(metrics.filter((m) => m.kind === "tts_usage").map((m) => m.value)).toEqual([27, 29]);
    expect(metrics.filter((m) => m.kind === "ttfb")).toHaveLength(1);
    expect(metrics.every((m) => m.model === "en-us" && m.processor === tts.name)).toBe(true);
  });

  it("resamples to the sampleRate asked for", async () => {
    const tts = new CommandTTSService({ command: espeakNgCommand(), sampleRate: 16_000 });
    const { down } = await runTest(tts, { framesToSend: [new TTSSpeakFrame("One two three.")] });
    const audio = down.filter((f): f is TTSAudioRawFrame => f instanceof TTSAudioRawFrame);
    expect(audio.length).toBeGreaterThan(0);
    expect(audio.every((f) => f.sampleRate === 16_000)).toBe(true);
    expect(tts.sampleRate).toBe(16_000);
    expect(audioMs(down)).toBeGreaterThan(700);
  });

  it("speaks a TTSSpeakFrame at once as a response of its own, leaving held LLM text held", async () => {
    const tts = new CommandTTSService({ command: espeakNgCommand() });
    const { down } = await runTest(tts, {
      framesToSend: [
        new LLMFullResponseStartFrame(),
        new LLMTextFrame("Let me think"),
        new TTSSpeakFrame("Hold on."),
        new LLMTextFrame(" about it."),
        new LLMFullResponseEndFrame(),
      ],
    });
    expect(describeFrames(down)).toEqual([
      "LLMFullResponseStartFrame",
      "TTSStartedFrame",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Hold on.)",
      "TTSStoppedFrame",
      "TTSStartedFrame",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Let me think about it.)",
      "TTSStoppedFrame",
      "LLMFullResponseEndFrame",
    ]);
    const ids = down
      .filter((f): f is TTSStartedFrame => f instanceof TTSStartedFrame)
      .map((f) => f.contextId);
    expect(new Set(ids).size).toBe(2);
  });

  it("passes other frames on behind the audio of the text before them; says nothing for a code block", async () => {
    const tts = new CommandTTSService({ command: espeakNgCommand() });
    const { down } = await runTest(tts, {
      framesToSend: [
        new LLMFullResponseStartFrame(),
        new LLMTextFrame("Run this:\n```\nrm -rf /tmp/x\n```\n"),
        new TextFrame("marker"),
        new LLMTextFrame("Done."),
        new LLMFullResponseEndFrame(),
      ],
    });
    expect(describeFrames(down)).toEqual([
      "LLMFullResponseStartFrame",
      "TTSStartedFrame",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Run this:\n)",
      "TTSTextFrame(```\n)",
      "TTSTextFrame(rm -rf /tmp/x\n)",
      "TextFrame(marker)", // the fence's closing line waits for its next character
      "TTSTextFrame(```\n)",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Done.)",
      "TTSStoppedFrame",
      "LLMFullResponseEndFrame",
    ]);
    const unspoken = down.filter(
      (f): f is TTSTextFrame => f instanceof TTSTextFrame && f.metadata.spoken === false,
    );
    expect(unspoken.map((f) => f.text)).toEqual(["```\n", "rm -rf /tmp/x\n", "```\n"]);
  });

  it("uses the text-to-speakable step it is given, a fresh one per response", async () => {
    let made = 0;
    const tts = new CommandTTSService({
      command: espeakNgCommand(),
      textToSpeakable: () => {
        made++;
        return (piece) => piece.replaceAll("#", "");
      },
    });
    const { down } = await runTest(tts, {
      framesToSend: [
        new LLMFullResponseStartFrame(),
        new LLMTextFrame("### "),
        new LLMFullResponseEndFrame(),
        new LLMFullResponseStartFrame(),
        new LLMTextFrame("Yes."),
        new LLMFullResponseEndFrame(),
      ],
    });
    expect(made).toBe(2);
    expect(describeFrames(down)).toEqual([
      "LLMFullResponseStartFrame",
      "TTSTextFrame(### )",
      "LLMFullResponseEndFrame",
      "LLMFullResponseStartFrame",
      "TTSStartedFrame",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Yes.)",
      "TTSStoppedFrame",
      "LLMFullResponseEndFrame",
    ]);
  });

  it("speaks text still held when the task ends (a response without its end frame)", async () => {
    const tts = new CommandTTSService({ command: espeakNgCommand() });
    const { down } = await runTest(tts, { framesToSend: [new LLMTextFrame("Goodbye for now")] });
    expect(describeFrames(down)).toEqual([
      "TTSStartedFrame",
      "TTSAudioRawFrame*",
      "TTSTextFrame(Goodbye for now)",
      "TTSStoppedFrame",
    ]);
  });

  it("cuts a run-on text at maxSentenceChars, so held text stays bounded", async () => {
    const tts = new CommandTTSService({ command: espeakNgCommand(), maxSentenceChars: 40 });
    const words = "and then we walked on ".repeat(20);
    let maxHeld = 0;
    const { down } = await runTest(tts, {
      framesToSend: tokens(words, 5).flatMap((f) => [f]),
      taskOptions: {
        observers: [{ onPushFrame: () => void (maxHeld = Math.max(maxHeld, tts.pendingChars)) }],
      },
    });
    const texts = down.filter((f): f is TTSTextFrame => f instanceof TTSTextFrame).map((f) => f.text);
    expect(texts.join("")).toBe(words);
    expect(Math.max(...texts.map((t) => t.length))).toBeLessThanOrEqual(40);
    expect(maxHeld).toBeLessThanOrEqual(40);
  });
});

describe("a missing program or model", () => {
  it("espeak-ng: a fatal error at start naming the program and how to install it", async () => {
    const tts = new CommandTTSService({ command: espeakNgCommand({ binary: "/nonexistent/espeak-ng" }) });
    const { up, task } = await runTest(tts, { framesToSend: [] });
    const errors = up.filter((f): f is ErrorFrame => f instanceof ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fatal).toBe(true);
    expect(errors[0]!.error).toBeInstanceOf(TTSBinaryNotFoundError);
    expect(errors[0]!.error.message).toMatch(
      /"\/nonexistent\/espeak-ng" was not found.*apt-get install espeak-ng/,
    );
    expect((await task.run()).how).toBe("failed");
    expect(tts.usable).toBe(false);
  });

  it("flite: names flite and apt-get install flite", async () => {
    const tts = new CommandTTSService({ command: fliteCommand({ binary: "no-such-flite-binary" }) });
    const { up } = await runTest(tts, { framesToSend: [] });
    const error = (up.find((f) => f instanceof ErrorFrame) as ErrorFrame).error;
    expect(error.message).toBe(
      'the TTS program "no-such-flite-binary" was not found on PATH. Install it (sudo apt-get install flite), ' +
        'or give its full path as the "binary" option',
    );
  });

  it("piper: a missing model names the model path; a missing program names piper and the model", async () => {
    const temp = await scriptDir();
    try {
      const missingModel = join(temp.dir, "missing.onnx");
      const noModel = new CommandTTSService({ command: piperCommand({ model: missingModel }) });
      const first = await runTest(noModel, { framesToSend: [] });
      const modelError = (first.up.find((f) => f instanceof ErrorFrame) as ErrorFrame).error;
      expect(modelError).toBeInstanceOf(TTSModelNotFoundError);
      expect(modelError.message).toContain(missingModel);

      const model = join(temp.dir, "voice.onnx");
      await writeFile(model, "not really a model");
      await writeFile(`${model}.json`, JSON.stringify({ audio: { sample_rate: 22_050 } }));
      const noBinary = new CommandTTSService({ command: piperCommand({ model, binary: "no-such-piper" }) });
      const second = await runTest(noBinary, { framesToSend: [] });
      const binaryError = (second.up.find((f) => f instanceof ErrorFrame) as ErrorFrame).error;
      expect(binaryError).toBeInstanceOf(TTSBinaryNotFoundError);
      expect(binaryError.message).toContain('"no-such-piper" was not found');
      expect(binaryError.message).toContain(model);
    } finally {
      await temp.dispose();
    }
  });

  it("piper: runs a raw-PCM program at the rate of the model's config", async () => {
    // A stand-in for piper that honours its command line: raw PCM16 at 16 kHz from espeak's WAV.
    const temp = await scriptDir();
    try {
      const model = join(temp.dir, "voice.onnx");
      await writeFile(model, "");
      await writeFile(`${model}.json`, JSON.stringify({ audio: { sample_rate: 22_050 } }));
      const fakePiper = await temp.script(
        "piper",
        '#!/bin/sh\n[ "$1" = "--model" ] && [ "$5" = "--output_raw" ] || exit 2\nespeak-ng --stdout -b 1 | tail -c +45\n',
      );
      const tts = new CommandTTSService({ command: piperCommand({ model, binary: fakePiper }) });
      const { down, up } = await runTest(tts, { framesToSend: [new TTSSpeakFrame("Hello there.")] });
      expect(up).toEqual([]);
      expect(audioMs(down)).toBeGreaterThan(500);
    } finally {
      await temp.dispose();
    }
  });
});

describe.skipIf(!onPath("flite"))("CommandTTSService with flite", () => {
  it("speaks at 16 kHz (slt), resampled to the output rate", async () => {
    const tts = new CommandTTSService({ command: fliteCommand() });
    const { down, up } = await runTest(tts, {
      framesToSend: [new TTSSpeakFrame("- Hello world, this is flite.")],
    });
    expect(up).toEqual([]);
    expect(describeFrames(down)).toEqual([
      "TTSStartedFrame",
      "TTSAudioRawFrame*",
      "TTSTextFrame(- Hello world, this is flite.)",
      "TTSStoppedFrame",
    ]);
    expect(audioMs(down)).toBeGreaterThan(1_000);
  });
});
