/** The provider side of each telephony media stream (see wire.ts), one module per provider. */
import type { TelephonyProvider } from "../../../src/serializers/telephony/telephony-serializer.js";
import { exotelWire } from "./exotel.js";
import { plivoWire } from "./plivo.js";
import { telnyxWire } from "./telnyx.js";
import { twilioWire } from "./twilio.js";
import { vonageWire } from "./vonage.js";
import type { CallerWire } from "./wire.js";

export * from "./wire.js";
export { exotelWire, plivoWire, telnyxWire, twilioWire, vonageWire };

/** Every provider's wire, by name. */
export const CALLER_WIRES: Readonly<Record<TelephonyProvider, CallerWire>> = {
  twilio: twilioWire,
  telnyx: telnyxWire,
  plivo: plivoWire,
  exotel: exotelWire,
  vonage: vonageWire,
};
