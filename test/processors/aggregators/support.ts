import { FrameDirection, type Frame, type FrameProcessor } from "../../../src/index.js";
import { FrameRecorder } from "../../../src/testing/index.js";
import { memoryLogger } from "../../support/logger.js";
import { startTask } from "../../support/task.js";

/** `processors` between two recorders, in a started task on a VirtualClock. */
export async function started(...processors: FrameProcessor[]) {
  const up = new FrameRecorder(FrameDirection.UPSTREAM);
  const down = new FrameRecorder();
  const log = memoryLogger();
  const s = startTask([up, ...processors, down], { logger: log.logger });
  await s.whenStarted();
  /** Queues frames downstream, then lets them settle. */
  const send = async (...frames: Frame[]): Promise<void> => {
    for (const f of frames) s.task.queueFrame(f);
    await s.clock.settle();
  };
  return { ...s, up, down, send, lines: log.lines };
}
