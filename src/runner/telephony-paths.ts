import type { TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";

/** The providers the development server answers, in the order its docs and startup lines list them. */
export const DEV_SERVER_PROVIDERS = [
  "twilio",
  "telnyx",
  "plivo",
  "vonage",
  "exotel",
] as const satisfies readonly TelephonyProvider[];

/** The path of `provider`'s answer route, or undefined (Exotel takes no answer document). */
export function answerPath(provider: TelephonyProvider): string | undefined {
  if (provider === "exotel") return undefined;
  return provider === "vonage" ? "/telephony/vonage/answer" : `/telephony/${provider}`;
}

/** The path of `provider`'s media-stream WebSocket, with the ticket when there is one. */
export function socketPath(provider: TelephonyProvider, ticket?: string): string {
  return `/telephony/${provider}/ws${ticket === undefined ? "" : `/${ticket}`}`;
}

/** What a path under `/telephony/` names. */
export type TelephonyTarget =
  | { readonly kind: "answer"; readonly provider: TelephonyProvider }
  | { readonly kind: "socket"; readonly provider: TelephonyProvider; readonly ticket: string | undefined }
  | { readonly kind: "unknown"; readonly detail: string };

const TICKET = /^[A-Za-z0-9_-]{1,128}$/;

/** Reads a request path: undefined when it is not under `/telephony/`. */
export function telephonyTarget(pathname: string): TelephonyTarget | undefined {
  if (pathname !== "/telephony" && !pathname.startsWith("/telephony/")) return undefined;
  const [, , name = "", ...rest] = pathname.split("/");
  const provider = DEV_SERVER_PROVIDERS.find((p) => p === name);
  if (provider === undefined) {
    return {
      kind: "unknown",
      detail: `no telephony provider ${JSON.stringify(name)} at ${pathname}; the providers are ${DEV_SERVER_PROVIDERS.join(", ")} (/telephony/<provider>, Vonage /telephony/vonage/answer, streams /telephony/<provider>/ws)`,
    };
  }
  const tail = rest.join("/");
  if (tail === "ws") return { kind: "socket", provider, ticket: undefined };
  if (rest.length === 2 && rest[0] === "ws" && TICKET.test(rest[1]!))
    return { kind: "socket", provider, ticket: rest[1] };
  if (answerPath(provider) === pathname) return { kind: "answer", provider };
  const answer = answerPath(provider);
  return {
    kind: "unknown",
    detail:
      answer === undefined
        ? `no such path: ${pathname}; Exotel takes no answer document: put the stream URL (…${socketPath(provider)}) in the Voicebot applet`
        : `no such path: ${pathname}; ${provider} answers at ${answer} and streams at ${socketPath(provider)}`,
  };
}
