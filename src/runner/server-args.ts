import { InvalidOptionError } from "../errors.js";

/** Where the development server listens, from the command line and the environment. */
export interface ServerAddress {
  /** @default "127.0.0.1" */
  readonly host: string;
  /** @default 7860 */
  readonly port: number;
  /** `--public-url URL`, else `VOICEPIPE_PUBLIC_URL`: where telephony providers reach the server (a tunnel). Absent when neither is set. */
  readonly publicUrl?: string;
  /** The arguments that were not `--host`/`--port`/`--public-url`, in order, for the application's own flags. */
  readonly rest: readonly string[];
}

/**
 * Reads `--port N` (or `--port=N`), else `PORT`, else 7860; `--host H` (or `--host=H`), else
 * 127.0.0.1; `--public-url URL`, else `VOICEPIPE_PUBLIC_URL` (checked by the server). `--port 0`
 * picks a free port.
 * @throws InvalidOptionError naming the flag or variable and the bad value.
 */
export function parseServerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ServerAddress {
  let host: string | undefined;
  let port: string | undefined;
  let publicUrl: string | undefined;
  let portFrom = "--port";
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const match = /^--(host|port|public-url)(?:=(.*))?$/.exec(arg);
    if (!match) {
      rest.push(arg);
      continue;
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined || value === "" || value.startsWith("--")) {
      throw new InvalidOptionError(
        `--${match[1]} needs a value, e.g. --${match[1]} ${{ port: "8080", host: "0.0.0.0" }[match[1] as "port" | "host"] ?? "https://abc.ngrok.app"}`,
      );
    }
    if (match[1] === "host") host = value;
    else if (match[1] === "port") port = value;
    else publicUrl = value;
  }
  if (port === undefined && env.PORT !== undefined && env.PORT !== "") {
    port = env.PORT;
    portFrom = "PORT";
  }
  const portNumber = port === undefined ? 7860 : Number(port);
  if (!/^\d{1,5}$/.test(port ?? "7860") || portNumber > 65535) {
    throw new InvalidOptionError(`${portFrom} must be a TCP port number 0–65535 (got "${port}")`);
  }
  if (publicUrl === undefined && env.VOICEPIPE_PUBLIC_URL !== undefined && env.VOICEPIPE_PUBLIC_URL !== "")
    publicUrl = env.VOICEPIPE_PUBLIC_URL;
  return {
    host: host ?? "127.0.0.1",
    port: portNumber,
    ...(publicUrl === undefined ? {} : { publicUrl }),
    rest,
  };
}
