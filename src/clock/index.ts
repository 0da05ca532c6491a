export { BaseClock, type Clock, type TimerHandle } from "./clock.js";
export { SystemClock } from "./system-clock.js";
export { VirtualClock, VirtualTimeExceededError, type RunUntilOptions } from "./virtual-clock.js";
