/**
 * The turn model of `npm start` (examples/03-voice-bot/turn-model.ts): `SMART_TURN_MODEL` read,
 * the model loaded and checked once per process and held for it, and each message when it cannot
 * be used. The model is the Smart Turn v3 stand-in of test/audio/turn (same input and output); its
 * variants are written to a scratch folder. Sessions that end turns by it, and `npm start` itself
 * with it, are real-time tests: test/conversation/turn-model-sessions.test.ts and
 * turn-model-command.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type TurnModel, loadTurnModel } from "../../examples/03-voice-bot/turn-model.js";
import { SmartTurnAnalyzer, SmartTurnWorker } from "../../src/audio/turn/smart-turn/index.js";
import { encodeOnnxModel, smartTurnStandIn } from "../audio/turn/onnx-builder.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/smart-turn-test.onnx", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "voicepipe-turn-model-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const loaded: TurnModel[] = [];
async function load(value: string | undefined): Promise<TurnModel> {
  const model = await loadTurnModel({ SMART_TURN_MODEL: value });
  loaded.push(model);
  return model;
}
afterEach(async () => {
  await Promise.all(loaded.splice(0).map((m) => m.release()));
});

const TAIL =
  "or unset SMART_TURN_MODEL. The bot runs without a turn model meanwhile: the user's turns end on silence.";
const GET_IT =
  "smart-turn-v3.2-cpu.onnx from https://huggingface.co/pipecat-ai/smart-turn-v3 (BSD-2-Clause; voicepipe neither ships nor downloads it)";
const UNUSABLE_NOTE = "no turn model: SMART_TURN_MODEL cannot be used (the warning above says why)";

describe("SMART_TURN_MODEL: which turn model npm start uses", () => {
  it("unset or blank: no turn model, and the line says how to get one", async () => {
    for (const value of [undefined, "", "   "]) {
      const model = await load(value);
      expect(model).toMatchObject({
        path: undefined,
        problem: undefined,
        analyzer: undefined,
        note: "no turn model (set SMART_TURN_MODEL to a Smart Turn v3 .onnx file to use one)",
      });
    }
  });

  it("a Smart Turn v3 model: loaded once and held for the process, its path in the line, one analyzer per session on it", async () => {
    const worker = SmartTurnWorker.shared();
    const loadsBefore = worker.loads;
    // A relative path is taken from the current directory and shown absolute.
    const model = await load(relative(process.cwd(), FIXTURE));
    expect(model.path).toBe(FIXTURE);
    expect(model.problem).toBeUndefined();
    expect(model.note).toBe(`Smart Turn v3 ends the user's turns (SMART_TURN_MODEL=${FIXTURE})`);
    expect(worker.held().get(FIXTURE)).toBe(1); // the process's own hold
    expect(worker.loads - loadsBefore).toBe(1);

    const sessions = [model.analyzer!(), model.analyzer!()];
    expect(sessions[0]).toBeInstanceOf(SmartTurnAnalyzer);
    expect(sessions[0]).not.toBe(sessions[1]); // each holds its own turn's audio
    for (const a of sessions) await a.load!(AbortSignal.timeout(10_000));
    expect(worker.held().get(FIXTURE)).toBe(3);
    for (const a of sessions) await a.release!();
    // The last session's end does not unload the model: the next session does not load it again.
    expect(worker.held().get(FIXTURE)).toBe(1);
    expect(worker.running).toBe(true);
    expect(worker.loads - loadsBefore).toBe(1);
    await model.release();
    expect(worker.held().has(FIXTURE)).toBe(false);
  });

  it("no file there: says so, where to get the model, and that the bot runs without it", async () => {
    const path = join(scratch, "smart-turn-v3.2-cpu.onnx");
    const model = await load(path);
    expect(model).toMatchObject({ path: undefined, analyzer: undefined, note: UNUSABLE_NOTE });
    expect(model.problem).toBe(
      `SMART_TURN_MODEL=${path} cannot be used: there is no file at ${path}. Download ${GET_IT}, ${TAIL}`,
    );
  });

  it("a directory: says it must name the file itself", async () => {
    const dir = join(scratch, "models");
    mkdirSync(dir, { recursive: true });
    const model = await load(dir);
    expect(model.problem).toBe(
      `SMART_TURN_MODEL=${dir} cannot be used: ${dir} is a directory; it must name the .onnx file itself. ` +
        `Download ${GET_IT}, ${TAIL}`,
    );
  });

  it("a file that is not a model: the runtime's refusal, and what file to give", async () => {
    const path = join(scratch, "notes.onnx");
    writeFileSync(path, "not a model");
    const model = await load(path);
    expect(model.note).toBe(UNUSABLE_NOTE);
    expect(model.problem).toMatch(
      new RegExp(
        `^SMART_TURN_MODEL=${escape(path)} cannot be used: Smart Turn: the runtime could not load ${escape(path)} as a model \\(.+\\)\\. ` +
          `It must be a Smart Turn v3 \\.onnx file \\(input input_features, float32 \\[1, 80, 800\\]\\), e\\.g\\. smart-turn-v3\\.2-cpu\\.onnx\\. ` +
          `Set it to a Smart Turn v3 model: ${escape(GET_IT)}, ${escape(TAIL)}$`,
      ),
    );
    expect(SmartTurnWorker.shared().held().has(path)).toBe(false);
  });

  it("a model with other inputs: names the inputs it has and the one Smart Turn v3 takes", async () => {
    const path = join(scratch, "wrong-input.onnx");
    writeFileSync(path, encodeOnnxModel(smartTurnStandIn({ inputName: "input_values" })));
    const model = await load(path);
    expect(model.problem).toBe(
      `SMART_TURN_MODEL=${path} cannot be used: Smart Turn: ${path} has inputs [input_values], so it is not a Smart Turn v3 ` +
        "model (expected the input input_features, float32 [1, 80, 800]). Pass the path of a Smart Turn v3 .onnx file " +
        `(smart-turn-v3.x-cpu.onnx or -gpu.onnx). Set it to a Smart Turn v3 model: ${GET_IT}, ${TAIL}`,
    );
    expect(SmartTurnWorker.shared().held().has(path)).toBe(false);
  });

  it("a model with another output: found at startup by one check run, not at every turn", async () => {
    const path = join(scratch, "two-outputs.onnx");
    writeFileSync(path, encodeOnnxModel(smartTurnStandIn({ outputDims: [1, 2] })));
    const model = await load(path);
    expect(model.analyzer).toBeUndefined();
    expect(model.problem).toMatch(
      new RegExp(
        `^SMART_TURN_MODEL=${escape(path)} cannot be used: Smart Turn: ${escape(path)} answered \\[[^\\]]+\\] where a Smart Turn v3 ` +
          "model gives one probability \\(a sigmoid output of shape \\[1, 1\\]\\); check that the file is a Smart Turn v3 model\\. " +
          `Set it to a Smart Turn v3 model: ${escape(GET_IT)}, ${escape(TAIL)}$`,
      ),
    );
    expect(SmartTurnWorker.shared().held().has(path)).toBe(false);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
