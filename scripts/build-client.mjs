#!/usr/bin/env node
// Builds the development server's page (client/) into dist/client/: index.html, app.js (the
// official Pipecat web client and the page's code, bundled by esbuild) and
// THIRD_PARTY_LICENSES.txt (the licence of every package in the bundle). Nothing is fetched at
// run time. Deterministic: the same sources give the same bytes, which a test relies on
// (docs/design/dev-server.md).
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile, readdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Buffer } from "node:buffer";
import { argv, stdout } from "node:process";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Where `npm run build` puts the page; src/runner/client-page.ts reads it from here. */
export const DEFAULT_CLIENT_OUTDIR = join(root, "dist", "client");

/**
 * Bundles the page into `outdir`. Returns the names and sizes of the files written.
 * @param {{ outdir?: string }} [options]
 */
export async function buildClient({ outdir = DEFAULT_CLIENT_OUTDIR } = {}) {
  const result = await build({
    entryPoints: [join(root, "client", "main.ts")],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["chrome110", "firefox110", "safari16"],
    minify: true,
    legalComments: "none", // the licences go, whole, into THIRD_PARTY_LICENSES.txt
    metafile: true,
    write: false,
    logLevel: "warning",
  });
  const app = result.outputFiles[0].contents;
  const version = createHash("sha256").update(app).digest("hex").slice(0, 16);
  const html = (await readFile(join(root, "client", "index.html"), "utf8")).replace(
    '<script src="app.js"></script>',
    `<script src="app.js?v=${version}"></script>`,
  );
  if (!html.includes(version))
    throw new Error('build-client: client/index.html has no <script src="app.js"></script> to stamp');
  const licenses = await thirdPartyLicenses(Object.keys(result.metafile.inputs));
  await mkdir(outdir, { recursive: true });
  const files = { "index.html": html, "app.js": app, "THIRD_PARTY_LICENSES.txt": licenses };
  for (const [name, contents] of Object.entries(files)) await writeFile(join(outdir, name), contents);
  return Object.fromEntries(
    Object.entries(files).map(([name, contents]) => [name, Buffer.byteLength(contents)]),
  );
}

/** The licence text of every npm package esbuild took a file from, sorted by package name. */
async function thirdPartyLicenses(inputs) {
  const packages = new Set();
  for (const input of inputs) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input.split("\\").join("/"));
    if (match) packages.add(input.slice(0, match.index) + "node_modules/" + match[1]);
  }
  const sections = [];
  for (const dir of [...packages].sort()) {
    const pkg = JSON.parse(await readFile(join(root, dir, "package.json"), "utf8"));
    const licenseFile = (await readdir(join(root, dir))).find((name) => /^(licen[cs]e|copying)/i.test(name));
    const text = licenseFile
      ? await readFile(join(root, dir, licenseFile), "utf8")
      : `(no licence file; package.json says ${pkg.license})`;
    sections.push(`${pkg.name}@${pkg.version} (${pkg.license})\n\n${text.trim()}\n`);
  }
  return `The page's app.js bundles these packages:\n\n${sections.join("\n" + "-".repeat(72) + "\n\n")}`;
}

if (import.meta.url === pathToFileURL(argv[1] ?? "").href) {
  const sizes = await buildClient();
  const list = Object.entries(sizes).map(([name, bytes]) => `${name} ${bytes} bytes`);
  stdout.write(`build-client: ${list.join(", ")} → ${DEFAULT_CLIENT_OUTDIR}\n`);
}
