import type {
  TelephonyProvider,
  TelephonySerializer,
  TelephonySerializerOptions,
} from "../serializers/telephony/telephony-serializer.js";
import { PlivoFrameSerializer } from "../serializers/telephony/plivo.js";
import { TelnyxFrameSerializer } from "../serializers/telephony/telnyx.js";
import { ExotelFrameSerializer } from "../serializers/telephony/exotel.js";
import { TwilioFrameSerializer } from "../serializers/telephony/twilio.js";
import { VonageFrameSerializer } from "../serializers/telephony/vonage.js";

/** The providers {@link createTelephonySerializer} knows, in the order the docs list them. */
export const TELEPHONY_PROVIDERS: readonly TelephonyProvider[] = [
  "twilio",
  "telnyx",
  "plivo",
  "exotel",
  "vonage",
];

/** A new serializer (one per call) for `provider`'s media stream, with its default formats. */
export function createTelephonySerializer(
  provider: TelephonyProvider,
  options: TelephonySerializerOptions = {},
): TelephonySerializer {
  switch (provider) {
    case "twilio":
      return new TwilioFrameSerializer(options);
    case "telnyx":
      return new TelnyxFrameSerializer(options);
    case "plivo":
      return new PlivoFrameSerializer(options);
    case "exotel":
      return new ExotelFrameSerializer(options);
    case "vonage":
      return new VonageFrameSerializer(options);
    default:
      throw new RangeError(
        `unknown telephony provider ${JSON.stringify(provider)}; one of ${TELEPHONY_PROVIDERS.join(", ")}`,
      );
  }
}
