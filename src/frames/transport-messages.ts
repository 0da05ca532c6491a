import { DataFrame, SystemFrame } from "./frame.js";

/** A message received from the client over the transport's message channel. */
export class InputTransportMessageFrame extends SystemFrame {
  constructor(readonly message: unknown) {
    super();
  }
}

/** A message to send to the client, in order with the audio before it. */
export class OutputTransportMessageFrame extends DataFrame {
  constructor(readonly message: unknown) {
    super();
  }
}

/** A message to send to the client now, ahead of queued audio. */
export class OutputTransportMessageUrgentFrame extends SystemFrame {
  constructor(readonly message: unknown) {
    super();
  }
}
