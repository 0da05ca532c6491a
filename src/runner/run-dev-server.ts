import {
  type DevServer,
  type DevServerCloseReport,
  type DevServerOptions,
  startDevServer,
} from "./dev-server.js";
import { parseServerArgs } from "./server-args.js";

/** Options of {@link runDevServer}: the server's, less what the command line decides. */
export interface RunDevServerOptions extends Omit<DevServerOptions, "host" | "port"> {
  /** Command-line arguments. @default process.argv.slice(2) */
  argv?: readonly string[];
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Grace period on Ctrl-C, in ms (see DevServer.close). @default 5000 */
  graceMs?: number;
  /** Where the one line with the URL goes. @default process.stdout */
  out?: { write(text: string): unknown };
  /** Said at the end of that line, after "; " (which bot answers, say). */
  note?: string;
}

/**
 * The development server as a command: listens where `--host`/`--port`/`PORT` say, prints one
 * line with the URL, and on the first SIGINT or SIGTERM closes with a grace period (a second one
 * exits at once, status 130). Resolves with the server; `stopped` settles when it has closed.
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
  const { host, port } = parseServerArgs(argv, env);
  const server = await startDevServer({ ...serverOptions, host, port });
  out.write(`voicepipe: open ${server.url} in a browser (Ctrl-C to stop)${note ? `; ${note}` : ""}\n`);
  // A second Ctrl-C while closing exits at once; once closed, that listener goes too.
  const exitNow = (): never => process.exit(130);
  const onSignal = (): void => {
    process.once("SIGINT", exitNow);
    void server.close({ graceMs });
  };
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  // Closed by a signal or by the application: either way the handlers go.
  const close = server.close.bind(server);
  const stopped = new Promise<DevServerCloseReport>((resolve, reject) => {
    server.close = (closeOptions) => {
      process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
      const closing = close(closeOptions);
      const done = (): void => void process.off("SIGINT", exitNow);
      closing.then(
        (report) => (done(), resolve(report)),
        (error: unknown) => (done(), reject(error)),
      );
      return closing;
    };
  });
  return { server, stopped };
}
