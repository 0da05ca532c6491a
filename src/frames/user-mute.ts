import { SystemFrame } from "./frame.js";

/**
 * The bot has started ignoring the user's input (e.g. while a function call runs, or until its
 * first answer has been spoken). Pushed by whatever decides to mute; the RTVI observer tells the
 * client `user-mute-started`.
 */
export class UserMuteStartedFrame extends SystemFrame {}

/** The bot listens to the user again (RTVI `user-mute-stopped`). */
export class UserMuteStoppedFrame extends SystemFrame {}
