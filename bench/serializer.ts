/**
 * Protobuf serializer benchmark (not a test): cost per message of what a voice session sends and
 * receives most, best of 5 runs of 20,000 messages each.
 *
 *   npx tsx bench/serializer.ts
 *
 * - encode of a bot audio chunk: 20 ms at 24 kHz mono (960 bytes of PCM), as the output transport
 *   writes to the web client, with id and name as Pipecat sends them;
 * - decode of a microphone chunk: 512 samples at 16 kHz mono (1,024 bytes), as the official web
 *   client sends it (a fresh InputAudioRawFrame with its own copy of the audio);
 * - encode and decode of a small RTVI message (JSON in MessageFrame.data);
 * - refusal of a malformed message (the cost of a client sending garbage).
 */
import { performance } from "node:perf_hooks";
import { OutputAudioRawFrame, OutputTransportMessageFrame } from "../src/index.js";
import { ProtobufFrameSerializer } from "../src/serializers/index.js";
import { frameCodec } from "../src/serializers/protobuf/schema.js";

const MESSAGES = 20_000;
const RUNS = 5;

function bestUsPerMessage(work: (i: number) => unknown): number {
  let best = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    for (let i = 0; i < MESSAGES; i++) sink += work(i) === undefined ? 0 : 1;
    best = Math.min(best, performance.now() - start);
  }
  if (sink === 0) throw new Error("benchmark produced nothing");
  return (best * 1000) / MESSAGES;
}

const serializer = new ProtobufFrameSerializer();
const botAudio = Int16Array.from({ length: 480 }, (_, i) => Math.round(8000 * Math.sin(i / 7)));
const micAudio = new Uint8Array(1024);
for (let i = 0; i < micAudio.length; i++) micAudio[i] = (i * 37) & 0xff;
const micMessage = frameCodec().encode({
  audio: { id: 0, name: "audio", audio: micAudio, sample_rate: 16000, num_channels: 1 },
});
const rtvi = {
  label: "rtvi-ai",
  type: "user-transcription",
  data: { text: "hello there", final: true, user_id: "u" },
};
const rtviMessage = serializer.serialize(new OutputTransportMessageFrame(rtvi))!;
const garbage = Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff);

const encodeAudio = bestUsPerMessage(() => serializer.serialize(new OutputAudioRawFrame(botAudio, 24000, 1)));
const decodeAudio = bestUsPerMessage(() => serializer.deserialize(micMessage));
const encodeMessage = bestUsPerMessage(() => serializer.serialize(new OutputTransportMessageFrame(rtvi)));
const decodeMessage = bestUsPerMessage(() => serializer.deserialize(rtviMessage));
const refuse = bestUsPerMessage(() => serializer.deserialize(garbage));

console.log(`bench: serializer.protobuf.encode_audio_24k_20ms ${encodeAudio.toFixed(2)} us`);
console.log(`bench: serializer.protobuf.decode_audio_16k_512 ${decodeAudio.toFixed(2)} us`);
console.log(`bench: serializer.protobuf.encode_rtvi_message ${encodeMessage.toFixed(2)} us`);
console.log(`bench: serializer.protobuf.decode_rtvi_message ${decodeMessage.toFixed(2)} us`);
console.log(`bench: serializer.protobuf.refuse_malformed ${refuse.toFixed(2)} us`);
console.log(
  `bench: serializer.protobuf.audio_message_bytes ${serializer.serialize(new OutputAudioRawFrame(botAudio, 24000, 1))!.byteLength} bytes`,
);
