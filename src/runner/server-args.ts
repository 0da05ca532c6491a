import { InvalidOptionError } from "../errors.js";

/** Where the development server listens, from the command line and the environment. */
export interface ServerAddress {
  /** @default "127.0.0.1" */
  readonly host: string;
  /** @default 7860 */
  readonly port: number;
  /** The arguments that were not `--host`/`--port`, in order, for the application's own flags. */
  readonly rest: readonly string[];
}

/**
 * Reads `--port N` (or `--port=N`), else `PORT`, else 7860; and `--host H` (or `--host=H`), else
 * 127.0.0.1. `--port 0` picks a free port.
 * @throws InvalidOptionError naming the flag or variable and the bad value.
 */
export function parseServerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ServerAddress {
  let host: string | undefined;
  let port: string | undefined;
  let portFrom = "--port";
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const match = /^--(host|port)(?:=(.*))?$/.exec(arg);
    if (!match) {
      rest.push(arg);
      continue;
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined || value === "" || value.startsWith("--")) {
      throw new InvalidOptionError(
        `--${match[1]} needs a value, e.g. --${match[1]} ${match[1] === "port" ? "8080" : "0.0.0.0"}`,
      );
    }
    if (match[1] === "host") host = value;
    else port = value;
  }
  if (port === undefined && env.PORT !== undefined && env.PORT !== "") {
    port = env.PORT;
    portFrom = "PORT";
  }
  const portNumber = port === undefined ? 7860 : Number(port);
  if (!/^\d{1,5}$/.test(port ?? "7860") || portNumber > 65535) {
    throw new InvalidOptionError(`${portFrom} must be a TCP port number 0–65535 (got "${port}")`);
  }
  return { host: host ?? "127.0.0.1", port: portNumber, rest };
}
