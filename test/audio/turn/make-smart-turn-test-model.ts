/**
 * Writes `test/fixtures/smart-turn-test.onnx`, the stand-in for Smart Turn v3 the tests and the
 * benchmark run (see `smartTurnStandIn` in onnx-builder.ts). Run it again after changing the
 * stand-in:
 *
 *   npx tsx test/audio/turn/make-smart-turn-test-model.ts
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { encodeOnnxModel, smartTurnStandIn } from "./onnx-builder.js";

const path = fileURLToPath(new URL("../../fixtures/smart-turn-test.onnx", import.meta.url));
const bytes = encodeOnnxModel(smartTurnStandIn());
writeFileSync(path, bytes);
console.log(`wrote ${path} (${bytes.length} bytes)`);
