import { type ChildProcess, spawn } from "node:child_process";

/** A TypeScript file run as a command (`node --import tsx file args…`), with what it printed. */
export interface RunningCommand {
  readonly child: ChildProcess;
  /** Everything printed so far. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Kills it (SIGKILL) if it is still running: call in `finally`. */
  kill(): void;
}

/** Starts `file` as a command the way `npm start` runs one (tsx), collecting its output. */
export function runCommand(
  file: string,
  args: readonly string[] = [],
  env?: Readonly<Record<string, string>>,
): RunningCommand {
  const child = spawn(process.execPath, ["--import", "tsx", file, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    kill: () => void child.kill("SIGKILL"),
  };
}
