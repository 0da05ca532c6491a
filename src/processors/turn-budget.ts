/**
 * How many frames every lane of the process together may handle in one event-loop turn before
 * the lane that hits the bound yields (docs/design/clock.md). A budget per lane was not enough:
 * a frame handled by one lane wakes the next one in the same turn, so ten lanes of a pipeline
 * (and every pipeline of the process) each spent their own budget back to back, and a burst held
 * the event loop for tens of milliseconds. One budget for the whole process bounds that stretch,
 * whatever the number of lanes.
 */
export const FRAMES_PER_TURN = 512;

let spent = 0;
let resetQueued = false;

function reset(): void {
  spent = 0;
  resetQueued = false;
}

/**
 * Counts one frame handled by a lane. Returns true when this turn's budget is spent: the lane
 * must yield to the event loop before it handles another frame. The count starts again on the
 * next turn (an immediate queued by the first frame of a turn, which runs before the lanes that
 * yielded resume).
 */
export function spendFrame(): boolean {
  if (!resetQueued) {
    resetQueued = true;
    setImmediate(reset);
  }
  return ++spent >= FRAMES_PER_TURN;
}
