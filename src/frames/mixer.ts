import { ControlFrame } from "./frame.js";

/** Settings a mixer may change at run time. */
export interface MixerSettings {
  /** Name of the sound to play (a key of the mixer's sound files). */
  sound?: string;
  /** Gain, 0 to 1. */
  volume?: number;
  /** Loop the sound at its end. */
  loop?: boolean;
}

/** Base of the frames that control an output mixer. */
export abstract class MixerControlFrame extends ControlFrame {}

/** Change the mixer's sound, volume or looping. */
export class MixerUpdateSettingsFrame extends MixerControlFrame {
  constructor(readonly settings: MixerSettings) {
    super();
  }
}

/** Turn mixing on or off. */
export class MixerEnableFrame extends MixerControlFrame {
  constructor(readonly enable: boolean) {
    super();
  }
}
