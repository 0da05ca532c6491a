/**
 * The voicepipe test kit (`voicepipe/testing`): drive a processor or pipeline with frames on
 * a virtual clock and see what comes out, like Pipecat's `run_test`.
 */
export {
  runTest,
  assertFrameTypes,
  Sleep,
  FrameMismatchError,
  type RunTestOptions,
  type RunTestResult,
} from "./run-test.js";
export { FrameRecorder } from "./frame-recorder.js";
export { VirtualClock, VirtualTimeExceededError } from "../clock/virtual-clock.js";
