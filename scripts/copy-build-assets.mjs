#!/usr/bin/env node
// Copies the files that modules in src/ read at run time, next to their compiled modules in dist/
// (tsc emits JavaScript and declarations only). Part of `npm run build`; the package ships dist/.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Paths under src/ that a module reads beside itself (`new URL("./…", import.meta.url)`). */
const ASSETS = ["serializers/protobuf/frames.proto"];

for (const asset of ASSETS) {
  const target = join(root, "dist", asset);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(root, "src", asset), target);
}
