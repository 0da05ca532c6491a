/**
 * 200 output transports with mixers in one process, on the real clock: CPU per session and
 * write lateness against each session's ideal schedule (its first write after a 2 s warm-up,
 * + i × 40 ms), plus how often a sender fell so far behind that it re-anchored. Every session
 * plays background sound continuously and 1 s of TTS speech every 4 s. One stall of the whole
 * process (a GC pause, another job taking the cores) makes every later write of the ideal
 * schedule "late", so the lateness is also given against a schedule re-based the way a sender
 * re-anchors (`rebased`): a stall then counts once per session. The event-loop delay of the
 * process tells a starved process from a slow pacer.
 *
 *   npx tsx bench/output-transports.ts [sessions=200] [seconds=20] [pacing=shared|clock]
 *       [quantum=1] [busy=0|1]
 *
 * `pacing=shared` (the default) paces every session on the process's shared ticker (one timer
 * per phase group of `quantum` ms); `pacing=clock` gives each session its own timer. `busy=1`
 * starts a second process that keeps one core busy for the whole run (and stops it after).
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import {
  ClockPacer,
  MemoryTransport,
  type PacerFactory,
  Pipeline,
  PipelineTask,
  SharedTickerPacer,
  SoundfileMixer,
  SystemClock,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  silentLogger,
  writeWavFile,
} from "../src/index.js";
import { benchArgs } from "./support/args.js";

const { positional, named } = benchArgs();
const SESSIONS = Number(positional[0] ?? 200);
const SECONDS = Number(positional[1] ?? 20);
const PACING = named.pacing ?? "shared";
const QUANTUM = Number(named.quantum ?? 1);
const BUSY = named.busy === "1";
if (PACING !== "shared" && PACING !== "clock")
  throw new Error(`pacing must be shared or clock (got ${PACING})`);
const pacer: PacerFactory =
  PACING === "clock"
    ? (timing) => new ClockPacer(timing)
    : (timing) => new SharedTickerPacer(timing, { phaseQuantumMs: QUANTUM });
// A neighbour that keeps one core busy, started before the sessions and stopped after them.
const neighbour = BUSY ? spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }) : undefined;
const RATE = 24_000;
const CHUNK_MS = 40;

const dir = mkdtempSync(join(tmpdir(), "voicepipe-bench-"));
const ambience = join(dir, "ambience.wav");
const noise = new Int16Array(16_000 * 3);
for (let i = 0; i < noise.length; i++) noise[i] = Math.round((Math.random() * 2 - 1) * 3000);
await writeWavFile(ambience, { audio: noise, sampleRate: 16_000 });
const speech = new Int16Array(RATE).map((_, i) =>
  Math.round(6000 * Math.sin((2 * Math.PI * 220 * i) / RATE)),
);

const clock = new SystemClock();
const lateness: number[] = [];
const rebased: number[] = [];
let writes = 0;
let reanchors = 0;

async function session(stopAt: number): Promise<void> {
  let first: number | undefined;
  let index = 0;
  let base: number | undefined;
  let rebasedIndex = 0;
  const transport = new MemoryTransport({
    params: {
      audioOutEnabled: true,
      audioOutSampleRate: RATE,
      audioOutMixer: new SoundfileMixer({ soundFiles: { ambience }, volume: 0.3 }),
    },
    recordLimit: 0,
    pacer,
    sink: () => {
      const now = performance.now();
      writes++;
      if (now < warmupEnd) return true;
      first ??= now;
      lateness.push(now - (first + index * CHUNK_MS));
      index++;
      // Against the schedule re-based the way a sender re-anchors: a write later than the
      // catch-up bound (4 chunks) counts once, then the schedule starts again from it.
      base ??= now;
      const late = now - (base + rebasedIndex * CHUNK_MS);
      rebased.push(late);
      rebasedIndex++;
      if (late > 4 * CHUNK_MS) {
        base = now;
        rebasedIndex = 1;
      }
      return true;
    },
  });
  const task = new PipelineTask(new Pipeline([transport.output()]), {
    clock,
    logger: silentLogger,
    idleTimeoutMs: null,
  });
  const done = task.run();
  while (clock.now() < stopAt) {
    await clock.sleep(4_000 * Math.random());
    if (clock.now() >= stopAt) break;
    task.queueFrame(new TTSAudioRawFrame(speech, RATE));
    task.queueFrame(new TTSStoppedFrame());
    await clock.sleep(4_000);
  }
  reanchors += transport.output().sender()?.reanchors ?? 0;
  await task.cancel();
  await done;
}

const warmupEnd = performance.now() + 2_000;
const stopAt = clock.now() + SECONDS * 1000;
const all = Array.from({ length: SESSIONS }, () => session(stopAt));
await new Promise((r) => setTimeout(r, 2_000));
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
// How late the event loop itself runs (the whole process, not only the outputs): separates a
// starved process (another job on the machine) from a slow pacer.
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
// Node timers armed at once, sampled: one per session with per-session pacing, one per phase group shared.
const timerSamples: number[] = [];
const sampler = setInterval(() => {
  timerSamples.push(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length);
}, 250);
await new Promise((r) => setTimeout(r, (SECONDS - 3) * 1000));
clearInterval(sampler);
loopDelay.disable();
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - wall0;
await Promise.all(all);
neighbour?.kill();

const sorted = lateness.sort((a, b) => a - b);
const pct = (p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const corePerSession = ((cpu.user + cpu.system) / 1000 / wall / SESSIONS) * 100;
console.log(`# pacing=${PACING}${PACING === "shared" ? ` quantum=${QUANTUM}` : ""} busy=${BUSY ? 1 : 0}`);
console.log(`bench: output_sessions ${SESSIONS} sessions`);
console.log(`bench: output_cpu_per_session ${corePerSession.toFixed(3)} %core`);
console.log(`bench: output_cpu_total ${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(1)} %core`);
console.log(`bench: output_write_lateness_p50 ${pct(50).toFixed(2)} ms`);
console.log(`bench: output_write_lateness_p99 ${pct(99).toFixed(2)} ms`);
console.log(`bench: output_write_lateness_max ${sorted.at(-1)!.toFixed(2)} ms`);
const sortedRebased = rebased.sort((a, b) => a - b);
const pctRebased = (p: number): number =>
  sortedRebased[Math.min(sortedRebased.length - 1, Math.floor((p / 100) * sortedRebased.length))]!;
console.log(`bench: output_write_lateness_rebased_p50 ${pctRebased(50).toFixed(2)} ms`);
console.log(`bench: output_write_lateness_rebased_p99 ${pctRebased(99).toFixed(2)} ms`);
console.log(`bench: output_writes ${writes} chunks`);
console.log(`bench: output_reanchors ${reanchors} times`);
console.log(`bench: output_event_loop_delay_p99 ${(loopDelay.percentile(99) / 1e6).toFixed(2)} ms`);
const meanTimers = timerSamples.reduce((a, b) => a + b, 0) / Math.max(1, timerSamples.length);
console.log(`bench: output_armed_timers_mean ${meanTimers.toFixed(1)} timers`);
