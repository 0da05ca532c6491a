import v8 from "node:v8";
import vm from "node:vm";

v8.setFlagsFromString("--expose_gc");
const rawGc = vm.runInNewContext("gc") as () => void;

/** Runs full garbage collections until the heap stops shrinking; returns heap used in bytes. */
export async function settledHeap(): Promise<number> {
  let last = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 6; i++) {
    rawGc();
    await new Promise((r) => setImmediate(r));
    const used = process.memoryUsage().heapUsed;
    if (used >= last - 64 * 1024) return used;
    last = used;
  }
  return process.memoryUsage().heapUsed;
}

/** Counts active handles/requests by type (process.getActiveResourcesInfo()). */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}
