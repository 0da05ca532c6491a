/**
 * What `bench/websocket-sessions.ts` measures in the thread that runs the sessions (the main
 * thread, or each session worker): every output write's time against its session's schedule,
 * the pacers' re-anchors, event-loop delay, GC pauses and Silero's model runs, over one window.
 */
import { PerformanceObserver, monitorEventLoopDelay, performance } from "node:perf_hooks";
import { SileroWorker } from "../../src/audio/vad/silero-worker.js";
import type { OutputAudioRawFrame } from "../../src/frames/audio.js";
import type { WebSocketOutputTransport } from "../../src/transports/websocket/websocket-output.js";

/** Sampling interval of the event-loop delay monitor, ms. */
const LOOP_RESOLUTION_MS = 10;

/** One session's write times over the window, as offsets from its schedule's phase. */
export interface SessionTiming {
  output: WebSocketOutputTransport;
  chunkMs: number;
  /** Per write i of the window: its time − i × chunkMs, ms (the phase it was written at). */
  offsets: number[];
  t0: number;
  reanchorsAtStart: number;
}

/** What one thread measured over a window. */
export interface ThreadWindow {
  /** Sessions measured (alive at the start of the window). */
  sessions: number;
  /** Sessions alive at the end of the window. */
  alive: number;
  /** Sessions that ended during the window. */
  ended: number;
  /** Lateness of every write, ms (against its session's schedule; see `latenessOf`). */
  lateness: number[];
  reanchors: number;
  /** Event-loop delay beyond the monitor's interval, ms. */
  loopP99: number;
  loopMax: number;
  gcTotalMs: number;
  gcMaxMs: number;
  sileroRuns: number;
  sileroBatches: number;
  logs: number;
}

/** The sessions of one thread and their window. */
export class ThreadTimings {
  readonly sessions = new Set<SessionTiming>();
  measuring = false;
  ended = 0;
  #window:
    | {
        measured: Set<SessionTiming>;
        ended: number;
        logs: number;
        silero: { runs: number; batches: number };
        loop: ReturnType<typeof monitorEventLoopDelay>;
        gc: { totalMs: number; maxMs: number; observer: PerformanceObserver };
      }
    | undefined;

  /**
   * Times every chunk the session's output writes, from outside: the output's `writeAudio` is
   * looked up on the instance each time the sender writes, so an own property wraps it.
   */
  timeWrites(output: WebSocketOutputTransport): SessionTiming {
    const timing: SessionTiming = { output, chunkMs: 20, offsets: [], t0: 0, reanchorsAtStart: 0 };
    const host = output as unknown as { writeAudio(frame: OutputAudioRawFrame): Promise<boolean> };
    const write = host.writeAudio.bind(output);
    host.writeAudio = (frame) => {
      if (this.measuring) {
        const { offsets } = timing;
        offsets.push(performance.now() - timing.t0 - offsets.length * timing.chunkMs);
      }
      return write(frame);
    };
    this.sessions.add(timing);
    return timing;
  }

  start(logs: number): void {
    const measured = new Set(this.sessions);
    for (const s of measured) {
      s.offsets = [];
      s.chunkMs = s.output.sender()?.chunkMs || 20;
      s.reanchorsAtStart = s.output.sender()?.reanchors ?? 0;
      s.t0 = performance.now();
    }
    const worker = SileroWorker.shared();
    const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    loop.enable();
    // Garbage-collection pauses of this thread: a cause of event-loop delay it owns.
    const gc = {
      totalMs: 0,
      maxMs: 0,
      observer: new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          gc.totalMs += e.duration;
          if (e.duration > gc.maxMs) gc.maxMs = e.duration;
        }
      }),
    };
    gc.observer.observe({ entryTypes: ["gc"] });
    this.#window = {
      measured,
      ended: this.ended,
      logs,
      silero: { runs: worker.runs, batches: worker.batches },
      loop,
      gc,
    };
    this.measuring = true;
  }

  stop(logs: number): ThreadWindow {
    this.measuring = false;
    const w = this.#window!;
    w.loop.disable();
    w.gc.observer.disconnect();
    let reanchors = 0;
    for (const s of w.measured) reanchors += (s.output.sender()?.reanchors ?? 0) - s.reanchorsAtStart;
    const worker = SileroWorker.shared();
    return {
      sessions: w.measured.size,
      alive: this.sessions.size,
      ended: this.ended - w.ended,
      lateness: latenessOf(w.measured),
      reanchors,
      // The histogram holds whole timer intervals: the delay is what exceeds the resolution.
      loopP99: w.loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS,
      loopMax: w.loop.max / 1e6 - LOOP_RESOLUTION_MS,
      gcTotalMs: w.gc.totalMs,
      gcMaxMs: w.gc.maxMs,
      sileroRuns: worker.runs - w.silero.runs,
      sileroBatches: worker.batches - w.silero.batches,
      logs: logs - w.logs,
    };
  }
}

/**
 * Lateness of every write against its session's ideal schedule: chunk i due at phase + i × chunk,
 * the phase being the session's earliest write of the window (so no write is early, and a late
 * first write does not make the others look early). Not sorted.
 */
export function latenessOf(measured: Iterable<SessionTiming>): number[] {
  const all: number[] = [];
  for (const s of measured) {
    let phase = Infinity;
    for (const o of s.offsets) if (o < phase) phase = o;
    for (const o of s.offsets) all.push(o - phase);
  }
  return all;
}

/** Counts warnings and errors of the server and the bots; keeps the first few. */
export function countingLogger(): {
  warnings: number;
  errors: number;
  first: string[];
  debug(m: string): void;
  info(m: string): void;
  warn(m: string): void;
  error(m: string): void;
} {
  const logger = {
    warnings: 0,
    errors: 0,
    first: [] as string[],
    debug: () => {},
    info: () => {},
    warn: (m: string) => {
      logger.warnings++;
      if (logger.first.length < 5) logger.first.push(`warn: ${m}`);
    },
    error: (m: string) => {
      logger.errors++;
      if (logger.first.length < 5) logger.first.push(`error: ${m}`);
    },
  };
  return logger;
}
