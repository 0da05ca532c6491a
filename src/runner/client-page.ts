import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { VoicepipeError } from "../errors.js";

/**
 * Where `npm run build` puts the page (scripts/build-client.mjs): `<package>/dist/client/`. This
 * module sits two levels below the package root both as source (`src/runner/`) and built
 * (`dist/runner/`), so the same relative path finds it from either.
 */
export const DEFAULT_CLIENT_DIR = fileURLToPath(new URL("../../dist/client/", import.meta.url));

/** The page's files, by URL path, with their content types. */
const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/THIRD_PARTY_LICENSES.txt": { file: "THIRD_PARTY_LICENSES.txt", type: "text/plain; charset=utf-8" },
};

/** One file of the page, held in memory (the whole page is about 0.5 MB). */
export interface PageFile {
  readonly body: Buffer;
  readonly type: string;
}

/** The built page is not where the server looks for it. */
export class ClientPageMissingError extends VoicepipeError {
  readonly code = "VP_CLIENT_PAGE_MISSING";
  constructor(
    readonly dir: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the client page is not built: ${dir} has no index.html and app.js; run \`npm run build\` (or \`npm run build:client\`) first, or pass clientDir`,
      options,
    );
  }
}

/**
 * Reads the built page from `dir` into memory, keyed by URL path (`/`, `/app.js`, …). Only these
 * fixed files are ever served, so no request path reaches the file system.
 * @throws ClientPageMissingError when a file is missing.
 */
export async function loadClientPage(
  dir: string = DEFAULT_CLIENT_DIR,
): Promise<ReadonlyMap<string, PageFile>> {
  const page = new Map<string, PageFile>();
  for (const [path, { file, type }] of Object.entries(FILES)) {
    try {
      page.set(path, { body: await readFile(join(dir, file)), type });
    } catch (error) {
      throw new ClientPageMissingError(dir, { cause: error });
    }
  }
  return page;
}
