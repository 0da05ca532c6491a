/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/**
 * Where voicepipe writes its log. Every line names the processor (and frame) it concerns in
 * `fields`, so a trace reads as a story; a problem that repeats is said once, then counted
 * (`RepeatReporter`, docs/design/input-transport.md). Plug in pino or anything with these four
 * methods.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * A logger that writes one line per message to stderr, at `level` and above.
 * @param level lowest level written. @default "warn"
 */
export function createConsoleLogger(level: LogLevel = "warn"): Logger {
  const min = ORDER[level];
  const write =
    (lvl: Exclude<LogLevel, "silent">) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (ORDER[lvl] < min) return;
      const extra = fields && Object.keys(fields).length > 0 ? ` ${safeJson(fields)}` : "";
      process.stderr.write(`[voicepipe] ${lvl.toUpperCase()} ${message}${extra}\n`);
    };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

/** A logger that drops everything. */
export const silentLogger: Logger = createConsoleLogger("silent");

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (v instanceof Error ? v.message : v));
  } catch {
    return "[unserialisable fields]";
  }
}
