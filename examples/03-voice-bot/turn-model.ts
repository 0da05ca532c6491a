/**
 * The end-of-turn model `npm start` uses when `SMART_TURN_MODEL` names a Smart Turn v3 `.onnx` file
 * (the user's own download: voicepipe neither ships nor fetches it). With it, both bots end the
 * user's turn when the model says the user finished, not on the first silence
 * (docs/design/voice-bot.md, "The turn model").
 *
 * The model is loaded once per process, checked (its input, and one run: its output must be one
 * probability) and held for the life of the process, so sessions never load it again: each session
 * gets its own small analyzer (the turn's audio, 8 s at most) that runs on the process's shared
 * inference thread and model session (docs/design/smart-turn.md).
 *
 * A variable that is set but unusable (no such file, a directory, an unreadable file, not a Smart
 * Turn v3 model) is said once at startup, naming the variable and what to do, and the bot runs
 * without a turn model, as it runs the echo bot when a key is missing (choose-bot.ts).
 */
import { type Stats, constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { SmartTurnAnalyzer } from "../../src/audio/turn/smart-turn/index.js";
import type { TurnAnalyzer } from "../../src/index.js";

/** The environment variable that names the Smart Turn v3 model file. */
export const TURN_MODEL_VARIABLE = "SMART_TURN_MODEL";

/** Where the user gets the model (said in every message that asks for it). */
export const TURN_MODEL_SOURCE =
  "smart-turn-v3.2-cpu.onnx from https://huggingface.co/pipecat-ai/smart-turn-v3 (BSD-2-Clause; voicepipe neither ships nor downloads it)";

/** What the process does about the turn model (from {@link loadTurnModel}). */
export interface TurnModel {
  /** The model file's absolute path, when a turn model is used; else undefined. */
  readonly path: string | undefined;
  /** One clause for the startup line: the model and its path, or that there is none and why. */
  readonly note: string;
  /** What is wrong with the variable (said once, as a warning); undefined when it is unset or usable. */
  readonly problem: string | undefined;
  /**
   * A new analyzer for one session, on the process's loaded model (each holds the audio of its
   * session's turn: 8 s at most). Undefined when no turn model is used.
   */
  readonly analyzer: (() => TurnAnalyzer) | undefined;
  /** Gives back the process's hold on the model: its inference thread stops once no session holds it. Idempotent. */
  release(): Promise<void>;
}

/** Options of {@link loadTurnModel}. */
export interface LoadTurnModelOptions {
  /** Longest wait for the model's load (starting the runtime, compiling the model), in ms. @default 30000 */
  loadTimeoutMs?: number;
  /** Longest wait for the check run on a second of silence, in ms. @default 10000 */
  checkTimeoutMs?: number;
}

const UNSET_NOTE = `no turn model (set ${TURN_MODEL_VARIABLE} to a Smart Turn v3 .onnx file to use one)`;

/**
 * Reads `SMART_TURN_MODEL` from `env` and, when it is set, loads and checks the model it names.
 * Never rejects: a model that cannot be used gives a {@link TurnModel} without one, whose `problem`
 * says what is wrong, naming the variable and what to do. A blank value is unset (as for keys).
 * A relative path is taken from the current directory.
 */
export async function loadTurnModel(
  env: Readonly<Record<string, string | undefined>>,
  options: LoadTurnModelOptions = {},
): Promise<TurnModel> {
  const given = (env[TURN_MODEL_VARIABLE] ?? "").trim();
  if (given === "") return without(UNSET_NOTE, undefined);
  const path = resolve(given);
  const fileProblem = await checkFile(path);
  if (fileProblem) return unusable(given, fileProblem, "Download " + TURN_MODEL_SOURCE);
  // The process's own analyzer: it loads the model, checks it, and holds it while the process runs.
  let keeper: SmartTurnAnalyzer | undefined;
  try {
    keeper = new SmartTurnAnalyzer({
      modelPath: path,
      loadTimeoutMs: options.loadTimeoutMs ?? 30_000,
      timeoutMs: options.checkTimeoutMs ?? 10_000,
    });
    await keeper.load();
    // One run on a second of silence (bounded by the analyzer's timeoutMs): a model whose output
    // is not one probability fails here, once, instead of at every turn of every session.
    keeper.appendAudio(new Int16Array(keeper.sampleRate), false);
    await keeper.analyze(new AbortController().signal);
    keeper.clear();
  } catch (error) {
    await keeper?.release();
    return unusable(given, describe(error), `Set it to a Smart Turn v3 model: ${TURN_MODEL_SOURCE}`);
  }
  const held = keeper;
  return {
    path,
    note: `Smart Turn v3 ends the user's turns (${TURN_MODEL_VARIABLE}=${path})`,
    problem: undefined,
    analyzer: () => new SmartTurnAnalyzer({ modelPath: path }),
    release: () => held.release(),
  };
}

/** Why `path` cannot be a model file, or undefined when it is a readable file. */
async function checkFile(path: string): Promise<string | undefined> {
  let kind: Stats;
  try {
    kind = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? `there is no file at ${path}` : `${path} cannot be read (${describe(error)})`;
  }
  if (kind.isDirectory()) return `${path} is a directory; it must name the .onnx file itself`;
  if (!kind.isFile()) return `${path} is not a regular file; it must name the .onnx file itself`;
  try {
    await access(path, constants.R_OK);
  } catch (error) {
    return `${path} cannot be read (${describe(error)}); make it readable by the user running the bot`;
  }
  return undefined;
}

function unusable(given: string, what: string, todo: string): TurnModel {
  const problem =
    `${TURN_MODEL_VARIABLE}=${given} cannot be used: ${what.replace(/[.\s]+$/, "")}. ${todo}, or unset ${TURN_MODEL_VARIABLE}. ` +
    "The bot runs without a turn model meanwhile: the user's turns end on silence.";
  return without(
    `no turn model: ${TURN_MODEL_VARIABLE} cannot be used (the warning above says why)`,
    problem,
  );
}

function without(note: string, problem: string | undefined): TurnModel {
  return { path: undefined, note, problem, analyzer: undefined, release: async () => undefined };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
