/**
 * A session-worker module for test/adversary/session-workers.test.ts, driven by `workers.data`:
 * - `start[index]`: what createSessionHandler does in the first worker of slot `index`
 *   ("ok" default, "throw", "late-throw" (after `delayMs`), "never" (pending, a timer alive), "never-idle" (pending, nothing
 *   alive), "non-function", "exit",
 *   "block"); `replacement`: the same for every replacement (a start after the first `count`);
 *   `generations` (a SharedArrayBuffer, shared with every worker) counts the starts;
 * - `crashAfterMs`: the worker throws an uncaught error that long after its handler is made;
 * - `nested`: the worker starts a worker thread of its own (a ticking one);
 * - `logLines`: createSessionHandler logs that many lines first;
 * - `stubbornExit`: "ignore" replaces process.exit with a no-op, "block" adds an `exit` listener
 *   that loops for ever (either way the worker cannot end itself when told to).
 * Each session says `{ hello: { worker, id } }`, then obeys `?behave=`: `polite` (default: closes
 * 1000 on `closing`), `throw-sync` (the handler throws before returning), `self-close` (closes its
 * own socket at once), `crash-on-closing` (an uncaught error when `closing` aborts).
 * Text messages: `crash` (uncaught error), `exit:N` (process.exit(N)), `echo:<text>`, `spin`
 * (blocks the worker thread for good, after adding 1 to `spins`, a SharedArrayBuffer, so a test
 * can wait until the loop has begun).
 */
import { Worker } from "node:worker_threads";
import type { CreateSessionHandler } from "../../../src/runner/dev-server.js";

type Mode = "ok" | "throw" | "late-throw" | "never" | "never-idle" | "non-function" | "exit" | "block";
interface Data {
  count?: number;
  start?: Record<number, Mode>;
  replacement?: Mode;
  generations?: SharedArrayBuffer;
  delayMs?: number;
  crashAfterMs?: number;
  nested?: boolean;
  logLines?: number;
  stubbornExit?: "ignore" | "block";
  spins?: SharedArrayBuffer;
}

export const createSessionHandler: CreateSessionHandler = async ({ index, data, logger }) => {
  const d = (data ?? {}) as Data;
  const generation = d.generations ? Atomics.add(new Int32Array(d.generations), 0, 1) + 1 : 1;
  const mode: Mode =
    generation > (d.count ?? Infinity) ? (d.replacement ?? "ok") : (d.start?.[index] ?? "ok");
  for (let i = 0; i < (d.logLines ?? 0); i++) logger.info(`fixture flood ${i}`);
  if (d.stubbornExit === "ignore") process.exit = (() => undefined) as never;
  if (d.stubbornExit === "block")
    process.on("exit", () => {
      for (;;);
    });
  if (d.nested) new Worker("setInterval(() => undefined, 50);", { eval: true });
  switch (mode) {
    case "throw":
      throw new Error(`fixture: worker ${index} refused to start`);
    case "late-throw":
      await new Promise((r) => setTimeout(r, d.delayMs ?? 500));
      throw new Error(`fixture: worker ${index} refused to start late`);
    case "never":
      // Waits on something that never comes (a timer keeps the thread's event loop alive, as a
      // pending socket or model load would; without one the worker would just exit with code 0).
      setInterval(() => undefined, 1000);
      await new Promise(() => undefined);
      break;
    case "never-idle":
      await new Promise(() => undefined);
      break;
    case "non-function":
      return 42 as never;
    case "exit":
      process.exit(3);
      break;
    case "block":
      for (;;);
    case "ok":
      break;
  }
  if (d.crashAfterMs !== undefined)
    setTimeout(() => {
      throw new Error(`fixture: worker ${index} crash loop`);
    }, d.crashAfterMs);
  return (socket, request, session) => {
    const behave = new URL(request.url ?? "/", "http://x").searchParams.get("behave") ?? "polite";
    if (behave === "throw-sync") throw new Error("fixture: handler threw synchronously");
    socket.send(JSON.stringify({ hello: { worker: index, id: session.id } }));
    socket.on("message", (raw: Buffer) => {
      const text = raw.toString("utf8");
      if (text === "crash")
        setImmediate(() => {
          throw new Error("fixture worker crashed on purpose");
        });
      else if (text.startsWith("exit:")) process.exit(Number(text.slice(5)));
      else if (text.startsWith("echo:")) socket.send(text.slice(5));
      else if (text === "spin") {
        if (d.spins) Atomics.add(new Int32Array(d.spins), 0, 1);
        for (;;);
      }
    });
    if (behave === "self-close") socket.close(1000, "self");
    if (behave === "polite") session.closing.addEventListener("abort", () => socket.close(1000, "bye"));
    if (behave === "crash-on-closing")
      session.closing.addEventListener("abort", () =>
        setImmediate(() => {
          throw new Error("fixture worker crashed while closing");
        }),
      );
    return new Promise<void>((resolve) => socket.once("close", () => resolve()));
  };
};
