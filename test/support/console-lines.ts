import { vi } from "vitest";

/**
 * Runs `work` with the process's stderr captured, and returns its value with the voicepipe log
 * lines written meanwhile: a processor that was never set up logs to the console, not to the
 * task's logger, so a line there is a false report nobody asked for.
 */
export async function voicepipeLinesDuring<T>(
  work: () => Promise<T>,
): Promise<{ value: T; lines: string[] }> {
  const written: string[] = [];
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation((text) => {
    written.push(String(text));
    return true;
  });
  try {
    const value = await work();
    return { value, lines: written.filter((line) => line.includes("[voicepipe]")) };
  } finally {
    stderr.mockRestore();
  }
}
