import {
  type DevServer,
  type DevServerCloseReport,
  type DevServerOptions,
  type DevServerTelephony,
  startDevServer,
} from "./dev-server.js";
import { checkDevServerArgs } from "./server-args.js";
import { telephonyLines } from "./telephony-lines.js";

/** Options of {@link runDevServer}: the server's, less what the command line decides. */
export interface RunDevServerOptions extends Omit<DevServerOptions, "host" | "port"> {
  /**
   * Command-line arguments: `--port N`, `--host ADDRESS`, `--public-url URL`; anything else is
   * refused (an application with flags of its own passes the rest). @default process.argv.slice(2)
   */
  argv?: readonly string[];
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Grace period on Ctrl-C, in ms (see DevServer.close). @default 5000 */
  graceMs?: number;
  /** Where the startup lines go (the page's URL, then the phone-call URLs). @default process.stdout */
  out?: { write(text: string): unknown };
  /** Said at the end of that line, after "; " (which bot answers, say). */
  note?: string;
}

/**
 * The development server as a command: listens where `--host`/`--port`/`PORT` say, prints a line
 * with the page's URL, then the URLs to paste into each telephony provider's console, and on the
 * first SIGINT or SIGTERM closes with a grace period (a second one exits at once, status 130).
 * Resolves with the server; `stopped` settles when it has closed.
 *
 * Telephony settings come from `options.telephony` first, then the command line and the
 * environment: `--public-url` or `VOICEPIPE_PUBLIC_URL` (the tunnel's `https://` origin),
 * `TWILIO_AUTH_TOKEN`, `TELNYX_PUBLIC_KEY`, `PLIVO_AUTH_TOKEN`, `VONAGE_SIGNATURE_SECRET` (each
 * turns on that provider's signature check). An empty variable counts as unset.
 */
export async function runDevServer(
  options: RunDevServerOptions,
): Promise<{ server: DevServer; stopped: Promise<DevServerCloseReport> }> {
  const {
    argv = process.argv.slice(2),
    env = process.env,
    graceMs = 5000,
    out = process.stdout,
    note,
    ...serverOptions
  } = options;
  const { host, port, publicUrl } = checkDevServerArgs(argv, env);
  const telephony =
    serverOptions.telephony === false
      ? false
      : telephonySettings(serverOptions.telephony ?? {}, env, publicUrl);
  const server = await startDevServer({ ...serverOptions, telephony, host, port });
  const lines = [`voicepipe: open ${server.url} in a browser (Ctrl-C to stop)${note ? `; ${note}` : ""}`];
  if (telephony !== false)
    lines.push(
      ...telephonyLines(server, {
        workers: serverOptions.workers !== undefined,
        publicUrl: telephony.publicUrl,
      }),
    );
  // The first SIGINT or SIGTERM closes with the grace period; a second one while closing exits at
  // once. One listener for the whole time, installed before the URL is printed: a `once` listener
  // swapped for another leaves an instant with none, when Node restores the default action (the
  // process dies), and a Ctrl-C as soon as the URL shows must take the graceful path.
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(130);
    void server.close({ graceMs });
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  // One write: a reader never sees half of the startup lines.
  out.write(`${lines.join("\n")}\n`);
  // Closed by a signal or by the application: either way the listener goes once it has closed.
  const close = server.close.bind(server);
  const stopped = new Promise<DevServerCloseReport>((resolve, reject) => {
    server.close = (closeOptions) => {
      signals = Math.max(signals, 1); // closing: the next signal exits at once
      const closing = close(closeOptions);
      const done = (): void => void process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
      closing.then(
        (report) => (done(), resolve(report)),
        (error: unknown) => (done(), reject(error)),
      );
      return closing;
    };
  });
  return { server, stopped };
}

/** `given` completed from the command line and the environment (what `given` sets wins). */
function telephonySettings(
  given: DevServerTelephony,
  env: NodeJS.ProcessEnv,
  publicUrl: string | undefined,
): DevServerTelephony {
  const fromEnv = (name: string): string | undefined => (env[name] === "" ? undefined : env[name]);
  const settings: DevServerTelephony = { ...given };
  const url = given.publicUrl ?? publicUrl;
  if (url !== undefined) settings.publicUrl = url;
  const twilio = given.twilio?.authToken ?? fromEnv("TWILIO_AUTH_TOKEN");
  if (twilio !== undefined) settings.twilio = { ...given.twilio, authToken: twilio };
  const telnyx = given.telnyx?.publicKey ?? fromEnv("TELNYX_PUBLIC_KEY");
  if (telnyx !== undefined) settings.telnyx = { ...given.telnyx, publicKey: telnyx };
  const plivo = given.plivo?.authToken ?? fromEnv("PLIVO_AUTH_TOKEN");
  if (plivo !== undefined) settings.plivo = { ...given.plivo, authToken: plivo };
  const vonage = given.vonage?.signatureSecret ?? fromEnv("VONAGE_SIGNATURE_SECRET");
  if (vonage !== undefined) settings.vonage = { ...given.vonage, signatureSecret: vonage };
  return settings;
}
