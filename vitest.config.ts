import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

// Four projects: the unit/integration suite over `src/` (run first); the real-time suite (the
// official web client in headless Chromium, and the whole assistant on loopback providers with a
// loopback client: real time, with bounds on when audio arrives, so it runs alone, one file at a
// time, and no other test file takes its CPU); the phone calls to the echo bot, real time too but
// light (one call at a time per file, about 1 % of a core each), so the five providers' files run
// side by side, with `npm start` driven as a child process; and a small suite that checks the built package's `exports` map (run after
// `npm run build`).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: [
            "test/exports/**",
            "test/browser/**",
            "test/conversation/**",
            "test/adversary/command-line.test.ts",
            "test/observers/event-loop-stall-monitor.test.ts",
          ],
          // Measured on the 2-core CI machine (the same 199 files, one clean clone): vitest's
          // default of one worker per core but one, with a fresh module graph per file, took
          // 398 s, most of it importing `src/` again for every file; one graph per worker, 254 s;
          // and two workers, 163-190 s. Test files own their state (servers, env, timers are
          // set up and undone in each file), so sharing a worker's modules between files is safe.
          isolate: false,
          maxWorkers: Math.max(2, availableParallelism()),
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: "browser",
          // With them, the event-loop stall monitor's real-time tests: "no stall when nothing blocks"
          // cannot hold beside other test files burning both cores.
          include: [
            "test/browser/**/*.test.ts",
            "test/conversation/**/*.test.ts",
            "test/observers/event-loop-stall-monitor.test.ts",
          ],
          exclude: ["test/conversation/phone-call-*.test.ts"],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: "calls",
          // With them, `npm start` driven from outside as a child process (about one core for 75 s):
          // it took the unit project's CPU, and the phone calls hold their bounds beside a busy core.
          include: ["test/conversation/phone-call-*.test.ts", "test/adversary/command-line.test.ts"],
          // One worker per file: 109 s one file after another for the calls, the longest alone at once.
          maxWorkers: 6,
          testTimeout: 60_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: "exports",
          include: ["test/exports/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
