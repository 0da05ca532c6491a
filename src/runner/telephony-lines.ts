import type { DevServer } from "./dev-server-options.js";

const NAMES = {
  twilio: "Twilio",
  telnyx: "Telnyx",
  plivo: "Plivo",
  vonage: "Vonage",
  exotel: "Exotel",
} as const;

const GUARDS = {
  signature: "signature checked",
  token: "add ?token=<the server's token>",
  open: "open",
} as const;

/**
 * The startup lines about phone calls: which URL to paste where in each provider's console. Without a
 * public URL the host is a placeholder, and the first line says how to get one (a tunnel).
 */
export function telephonyLines(
  server: DevServer,
  how: { workers: boolean; publicUrl: string | undefined },
): string[] {
  if (how.workers)
    return [
      "voicepipe: phone calls are not answered with session workers (a tunnel reaches one port); run without workers to take calls",
    ];
  const lines =
    how.publicUrl === undefined
      ? [
          `voicepipe: phone calls: a tunnel to port ${server.port} (e.g. \`ngrok http ${server.port}\`) gives the https://<public host> to use below; --public-url (or VOICEPIPE_PUBLIC_URL) prints it in place`,
        ]
      : [`voicepipe: phone calls: paste into each provider's console:`];
  for (const endpoint of server.telephonyEndpoints) {
    let url = endpoint.url;
    if (how.publicUrl === undefined) {
      const parsed = new URL(url);
      url = `${parsed.protocol === "ws:" ? "wss:" : "https:"}//<public host>${parsed.pathname}`;
    }
    lines.push(
      `  ${NAMES[endpoint.provider].padEnd(6)} ${endpoint.where}: ${url} (${GUARDS[endpoint.guard]})`,
    );
  }
  if (server.telephonyEndpoints.some((endpoint) => endpoint.guard === "open"))
    lines.push(
      "  open routes answer anyone who finds the URL: TWILIO_AUTH_TOKEN, TELNYX_PUBLIC_KEY or PLIVO_AUTH_TOKEN turns on that provider's signature check",
    );
  return lines;
}
