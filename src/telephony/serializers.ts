import { InvalidOptionError } from "../errors.js";
import type {
  TelephonyProvider,
  TelephonySerializer,
  TelephonySerializerOptions,
} from "../serializers/telephony/telephony-serializer.js";
import { PlivoFrameSerializer } from "../serializers/telephony/plivo.js";
import { TelnyxFrameSerializer } from "../serializers/telephony/telnyx.js";
import { ExotelFrameSerializer, type ExotelSerializerOptions } from "../serializers/telephony/exotel.js";
import { TwilioFrameSerializer } from "../serializers/telephony/twilio.js";
import { VonageFrameSerializer, type VonageSerializerOptions } from "../serializers/telephony/vonage.js";

/** The providers {@link createTelephonySerializer} knows, in the order the docs list them. */
export const TELEPHONY_PROVIDERS: readonly TelephonyProvider[] = [
  "twilio",
  "telnyx",
  "plivo",
  "exotel",
  "vonage",
];

/** Options of {@link createTelephonySerializer}. */
export interface CallSerializerOptions extends TelephonySerializerOptions {
  /**
   * The stream's rate in Hz, both ways, for the providers whose stream chooses one: Exotel (its
   * URL's `?sample-rate=`, see `readStreamUrl`) and Vonage (the NCCO's `audio/l16;rate=`). The
   * other providers' rates come with their formats: giving one throws. @default the provider's
   */
  sampleRate?: number;
}

/**
 * A new serializer (one per call) for `provider`'s media stream, with its default formats (and
 * Exotel's or Vonage's `sampleRate` when given).
 *
 * @throws InvalidOptionError for a `sampleRate` the provider's stream does not take.
 */
export function createTelephonySerializer(
  provider: TelephonyProvider,
  options: CallSerializerOptions = {},
): TelephonySerializer {
  if (options.sampleRate !== undefined && provider !== "exotel" && provider !== "vonage")
    throw new InvalidOptionError(
      `${provider}: sampleRate is not an option of its stream (only Exotel's and Vonage's streams choose a rate); ` +
        `the rate comes with the format the answer document asked for: leave sampleRate out`,
    );
  switch (provider) {
    case "twilio":
      return new TwilioFrameSerializer(options);
    case "telnyx":
      return new TelnyxFrameSerializer(options);
    case "plivo":
      return new PlivoFrameSerializer(options);
    case "exotel":
      return new ExotelFrameSerializer(options as ExotelSerializerOptions);
    case "vonage":
      return new VonageFrameSerializer(options as VonageSerializerOptions);
    default:
      throw new RangeError(
        `unknown telephony provider ${JSON.stringify(provider)}; one of ${TELEPHONY_PROVIDERS.join(", ")}`,
      );
  }
}
