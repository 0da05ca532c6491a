import { EXOTEL_SAMPLE_RATES, type ExotelSampleRate } from "../serializers/telephony/exotel.js";
import type { TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";

/**
 * What a media stream's own URL chose about the stream, for the call's serializer
 * (`answerCall(socket, provider, { stream })`). Only Exotel's URL chooses anything: its Voicebot
 * applet's URL may carry `?sample-rate=`, the rate of the stream both ways; the other providers'
 * formats are in their answer documents.
 */
export interface CallStreamOptions {
  /** The stream's rate in Hz, both ways (Exotel's `?sample-rate=`). Left out: the provider's default (8000). */
  readonly sampleRate?: ExotelSampleRate;
}

/** What {@link readStreamUrl} found: the stream's options, or why the URL is wrong, in words. */
export type StreamUrlReading =
  | { readonly ok: true; readonly options: CallStreamOptions }
  | { readonly ok: false; readonly detail: string };

/** The query parameter of Exotel's stream URL that chooses the rate. */
const SAMPLE_RATE = "sample-rate";

/**
 * Reads what `provider`'s media-stream URL (the path and query the provider connected to) says
 * about the stream: Exotel's `?sample-rate=8000|16000|24000`; other providers' query parameters
 * choose nothing here and are ignored. A value Exotel does not stream at (another number, `16k`,
 * an empty one, the parameter twice) is refused with a sentence that names the parameter, the
 * value and where to fix it: a stream read at the wrong rate would play the bot's voice at the
 * wrong speed, so the connection should not be taken.
 */
export function readStreamUrl(provider: TelephonyProvider, url: URL): StreamUrlReading {
  if (provider !== "exotel") return { ok: true, options: {} };
  const values = url.searchParams.getAll(SAMPLE_RATE);
  if (values.length === 0) return { ok: true, options: {} };
  const rate = EXOTEL_SAMPLE_RATES.find((r) => values.length === 1 && values[0] === String(r));
  if (rate !== undefined) return { ok: true, options: { sampleRate: rate } };
  const given =
    values.length === 1
      ? `?${SAMPLE_RATE}=${JSON.stringify(values[0]!.slice(0, 40))}`
      : `${SAMPLE_RATE} ${values.length} times`;
  return {
    ok: false,
    detail:
      `${given} on ${url.pathname}: Exotel streams at ${EXOTEL_SAMPLE_RATES.slice(0, -1).join(", ")} or ` +
      `${EXOTEL_SAMPLE_RATES.at(-1)} Hz; give one of them once in the Voicebot applet's URL, or leave ` +
      `${SAMPLE_RATE} out for 8000`,
  };
}
