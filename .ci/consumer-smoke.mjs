/* global console, process */
// A user's first script, run by .ci/install-check inside a fresh project that installed the
// packed voicepipe tarball: it imports the package by name, as a user would, decodes one Pipecat
// protobuf frame (the schema file is read from the installed package) and runs Silero VAD on one
// second of speech.
//
//   node consumer-smoke.mjs without-runtime   # onnxruntime-web not installed: expect one clear error
//   node consumer-smoke.mjs with-runtime <16 kHz speech WAV>
//
// Exits non-zero (with the reason) if voicepipe does not behave as its README says.
import { readWavFile } from "voicepipe";
import { SileroVADAnalyzer, VADModelLoadError } from "voicepipe/audio/vad/silero";
import { ProtobufFrameSerializer } from "voicepipe/serializers";

const [mode, wavPath] = process.argv.slice(2);

function fail(message) {
  console.error(`consumer-smoke: FAIL: ${message}`);
  process.exit(1);
}

// pipecat.Frame { text: TextFrame { text: "hi" } }, as a Pipecat client sends it.
const decoded = new ProtobufFrameSerializer().deserialize(
  Uint8Array.from([0x0a, 0x04, 0x1a, 0x02, 0x68, 0x69]),
);
if (!decoded.ok || decoded.frames[0]?.text !== "hi")
  fail(
    `the protobuf serializer did not decode a text frame: ${decoded.ok ? JSON.stringify(decoded.frames) : decoded.error.message}`,
  );
console.log("consumer-smoke: ok: decoded a Pipecat protobuf frame");

if (mode === "without-runtime") {
  const vad = new SileroVADAnalyzer({ sampleRate: 16000 });
  const error = await vad.ready().then(
    () => undefined,
    (e) => e,
  );
  if (!(error instanceof VADModelLoadError)) fail(`expected a VADModelLoadError, got ${error}`);
  if (!error.message.includes("npm install onnxruntime-web"))
    fail(`the error does not say what to do: ${error.message}`);
  console.log(`consumer-smoke: ok: without the runtime, one clear error: ${error.message}`);
} else if (mode === "with-runtime") {
  const wav = await readWavFile(wavPath);
  if (wav.sampleRate !== 16000 || wav.numChannels !== 1) fail(`${wavPath} is not 16 kHz mono`);
  const second = wav.audio.subarray(16000, 32000); // 1.0–2.0 s: speech in the fixture
  const vad = new SileroVADAnalyzer({ sampleRate: 16000 });
  let maxConfidence = 0;
  const transitions = [];
  let windows = 0;
  for (let i = 0; i < second.length; i += 320) {
    const result = await vad.analyze(second.subarray(i, i + 320)); // 20 ms chunks, as a transport sends
    windows += result.windows;
    transitions.push(...result.transitions);
    maxConfidence = Math.max(maxConfidence, vad.lastConfidence);
  }
  if (windows !== 31) fail(`expected 31 windows of 512 samples in one second, got ${windows}`);
  if (maxConfidence < 0.9) fail(`no speech found in a second of speech (max confidence ${maxConfidence})`);
  if (transitions[0]?.type !== "started") fail(`speech start not confirmed: ${JSON.stringify(transitions)}`);
  console.log(
    `consumer-smoke: ok: ${windows} windows, max confidence ${maxConfidence.toFixed(3)}, ` +
      `speech started at ${transitions[0].speechMs} ms`,
  );
} else {
  fail(`unknown mode ${mode} (use without-runtime or with-runtime <wav>)`);
}
