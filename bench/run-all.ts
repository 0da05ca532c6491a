/**
 * Runs every benchmark in bench/ in its own process, one after another, and prints their
 * result lines (`bench: name value unit`).
 *
 *   npm run bench
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const only = process.argv.slice(2);
for (const file of readdirSync(dir).sort()) {
  if (!file.endsWith(".ts") || file === "run-all.ts") continue;
  if (only.length > 0 && !only.some((o) => file.includes(o))) continue;
  console.log(`# ${file}`);
  const result = spawnSync(process.execPath, ["--import", "tsx", `${dir}${file}`], { stdio: "inherit" });
  if (result.status !== 0) process.exitCode = 1;
}
