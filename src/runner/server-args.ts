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
export function parseServerArgs(argv: readonly string[], environment: NodeJS.ProcessEnv = {}): ServerAddress {
  // Variables as the text they would be in a real environment (a cast can smuggle anything in).
  const variable = (name: string): string | undefined => {
    const value: unknown = (environment ?? {})[name];
    return value === undefined || value === null ? undefined : String(value);
  };
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
    if (match[1] === "host") host = listenHost(value);
    else if (match[1] === "port") port = value;
    else publicUrl = value;
  }
  const envPort = variable("PORT");
  if (port === undefined && envPort !== undefined && envPort !== "") {
    port = envPort;
    portFrom = "PORT";
  }
  const portNumber = port === undefined ? 7860 : Number(port);
  if (!/^\d{1,5}$/.test(port ?? "7860") || portNumber > 65535) {
    throw new InvalidOptionError(`${portFrom} must be a TCP port number 0–65535 (got "${port}")`);
  }
  const envPublicUrl = variable("VOICEPIPE_PUBLIC_URL");
  if (publicUrl === undefined && envPublicUrl !== undefined && envPublicUrl !== "") publicUrl = envPublicUrl;
  return {
    host: host ?? "127.0.0.1",
    port: portNumber,
    ...(publicUrl === undefined ? {} : { publicUrl }),
    rest,
  };
}

/**
 * The command line {@link runDevServer} reads, checked whole: `--port`, `--host` and
 * `--public-url` (with `PORT` and `VOICEPIPE_PUBLIC_URL`), and no other argument. An application
 * calls it first, so a typo is refused in one line before it spends seconds loading its models;
 * `runDevServer` checks the same again.
 * @throws InvalidOptionError naming the argument or variable, what was wrong and the fix.
 */
export function checkDevServerArgs(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): ServerAddress {
  const address = parseServerArgs(argv, env);
  // A typo (`--prot`) or a flag npm kept for itself (`npm start --port 8080`, without `--`) must
  // not start a server somewhere the user did not ask for.
  if (address.rest.length > 0)
    throw new InvalidOptionError(
      `unknown argument ${JSON.stringify(address.rest[0])}: the server takes --port N, --host ADDRESS and --public-url URL ` +
        "(through npm, after --: npm start -- --port 8080)",
    );
  if (address.publicUrl !== undefined) checkPublicUrl(address.publicUrl);
  return address;
}

/** `value` as the origin telephony providers reach the server at, or an InvalidOptionError. */
export function checkPublicUrl(value: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== "https:" && url.protocol !== "http:") ||
    url.pathname !== "/" ||
    url.search !== "" ||
    url.hash !== "" ||
    url.username !== "" ||
    url.password !== ""
  )
    throw new InvalidOptionError(
      `telephony.publicUrl (--public-url, VOICEPIPE_PUBLIC_URL) must be an http(s) origin such as https://abc.ngrok.app, with no path, query or credentials (got ${JSON.stringify(value)})`,
    );
  return url;
}

/**
 * `--host` as the listener takes it: an IPv6 address copied from a URL loses its brackets
 * (`[::1]` → `::1`); a blank value, or one with spaces, is no host.
 */
function listenHost(value: string): string {
  const bracketed = /^\[([0-9a-fA-F:.]+(?:%[\w.-]+)?)\]$/.exec(value);
  if (bracketed) return bracketed[1]!;
  if (value.trim() === "" || /\s/.test(value))
    throw new InvalidOptionError(
      `--host must be an address or a host name of this machine, e.g. 127.0.0.1 or 0.0.0.0 (got ${JSON.stringify(value)})`,
    );
  return value;
}
