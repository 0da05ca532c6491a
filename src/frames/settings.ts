import { ControlFrame } from "./frame.js";

/** Update a service's settings at run time. Uninterruptible: a settings change is never lost. */
export class ServiceUpdateSettingsFrame extends ControlFrame {
  static override readonly uninterruptible = true;
  constructor(
    readonly settings: Record<string, unknown>,
    /** Name of the service it is for; `undefined` for every service of the right kind. */
    readonly service?: string,
  ) {
    super();
  }
}
