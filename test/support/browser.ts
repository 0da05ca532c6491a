/**
 * Headless Chromium for tests: Debian's `chromium` (or `chromium-headless-shell`) driven by
 * playwright-core, with a fake microphone that plays a WAV file. `.ci/run` installs the browser;
 * locally, tests that need it are skipped with {@link browserSkipReason} when it is missing.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type Page, chromium } from "playwright-core";
import { deinterleave } from "../../src/audio/pcm.js";
import { resampleOnce } from "../../src/audio/resampler.js";
import { readWav, writeWavFile } from "../../src/audio/wav.js";
import { SCRIPTED_MICROPHONE, WIRE_RECORDER } from "./page-scripts.js";

/** Where Debian puts Chromium; `VOICEPIPE_CHROMIUM` names another binary. */
const CANDIDATES = [
  "/usr/bin/chromium",
  "/usr/lib/chromium/chromium",
  "/usr/bin/chromium-headless-shell",
  "/usr/lib/chromium/chromium-headless-shell",
];

/** The Chromium binary to drive, or undefined when none is installed. */
export function findChromium(): string | undefined {
  const override = process.env.VOICEPIPE_CHROMIUM;
  if (override) {
    if (!existsSync(override)) throw new Error(`VOICEPIPE_CHROMIUM=${override}: no such file`);
    return override;
  }
  return CANDIDATES.find((path) => existsSync(path));
}

/**
 * Why browser tests cannot run here, or undefined when they can. Only a local run skips: under
 * CI (`CI=true`) a missing browser is a failure, so the browser tests never vanish silently.
 */
export const browserSkipReason: string | undefined =
  findChromium() !== undefined || process.env.CI === "true"
    ? undefined
    : `browser tests skipped: no Chromium at ${CANDIDATES.join(", ")}; install it with \`apt-get install -y chromium-headless-shell\` (CI does) or set VOICEPIPE_CHROMIUM`;

/** Flags for headless Chromium on this machine (no GPU, no sandbox, no network chatter), with a fake microphone and camera that need no permission prompt. */
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
  "--autoplay-policy=no-user-gesture-required",
  // Chromium 156 otherwise blocks a page's socket to 127.0.0.1 from another origin.
  "--disable-features=LocalNetworkAccessChecks",
];

/** A page with what it said: console messages (`type: text`) and uncaught errors. */
export interface WatchedPage {
  readonly page: Page;
  readonly console: string[];
  readonly errors: string[];
  /** Every URL the page requested. */
  readonly requests: string[];
}

/** What {@link BrowserHarness.open} installs in the page before its own scripts run. */
export interface OpenOptions {
  /**
   * Replace the microphone with one the test speaks into: `getUserMedia` returns a 16 kHz
   * stream that is silent until `window.__mic.speak(samples)` plays 16 kHz PCM16 samples into it
   * (see {@link speak}). The official client is unchanged; only the device is scripted.
   */
  scriptedMicrophone?: boolean;
  /** Record every binary WebSocket message the page receives, with its arrival time (see {@link takeWire}). */
  recordWire?: boolean;
}

/** A launched browser. `close()` ends it and removes its temporary files. */
export interface BrowserHarness {
  readonly browser: Browser;
  open(url: string, options?: OpenOptions): Promise<WatchedPage>;
  close(): Promise<void>;
}

/** One binary WebSocket message the page received: `atMs` on the page's `performance.now()` clock. */
export interface WireMessage {
  readonly atMs: number;
  readonly bytes: Uint8Array;
}

/** Plays 16 kHz mono `samples` into a page opened with `scriptedMicrophone`; returns the page time it started. */
export async function speak(page: Page, samples: Int16Array): Promise<number> {
  return page.evaluate(
    (s) => (globalThis as unknown as { __mic: { speak(s: number[]): number } }).__mic.speak(s),
    [...samples],
  );
}

/** The page's time now (`performance.now()`), to compare with {@link WireMessage.atMs}. */
export async function pageNow(page: Page): Promise<number> {
  return page.evaluate(() => performance.now());
}

/** Takes (and forgets) the messages recorded so far in a page opened with `recordWire`. */
export async function takeWire(page: Page): Promise<WireMessage[]> {
  // Base64 strings: a byte array crosses to Node as a JSON array of numbers, ten times the size.
  const taken = await page.evaluate(async () => {
    const log = (globalThis as unknown as { __wire: { atMs: number; data: ArrayBuffer | Blob }[] }).__wire;
    const items = log.splice(0, log.length);
    const out: { atMs: number; base64: string }[] = [];
    for (const item of items) {
      const bytes = new Uint8Array(item.data instanceof Blob ? await item.data.arrayBuffer() : item.data);
      let text = "";
      for (let i = 0; i < bytes.length; i += 8192)
        text += String.fromCharCode(...bytes.subarray(i, i + 8192));
      out.push({ atMs: item.atMs, base64: btoa(text) });
    }
    return out;
  });
  return taken.map((m) => ({ atMs: m.atMs, bytes: new Uint8Array(Buffer.from(m.base64, "base64")) }));
}

/** Options of {@link launchBrowser}. */
export interface LaunchOptions {
  /** A WAV file the fake microphone plays, looped. Converted to 16 kHz mono when it is not 16 or 48 kHz mono PCM. */
  fakeMicrophoneWav?: string;
  /** @default 10000 */
  launchTimeoutMs?: number;
}

/** Launches headless Chromium. Throws when it is not installed (check {@link browserSkipReason} first). */
export async function launchBrowser(options: LaunchOptions = {}): Promise<BrowserHarness> {
  const executablePath = findChromium();
  if (!executablePath)
    throw new Error(browserSkipReason ?? "no Chromium installed; `.ci/run` installs chromium-headless-shell");
  const scratch = await mkdtemp(join(tmpdir(), "voicepipe-browser-"));
  const args = [...FLAGS];
  if (options.fakeMicrophoneWav)
    args.push(`--use-file-for-fake-audio-capture=${await chromiumWav(options.fakeMicrophoneWav, scratch)}`);
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath,
      args,
      headless: true,
      timeout: options.launchTimeoutMs ?? 10_000,
    });
  } catch (error) {
    await rm(scratch, { recursive: true, force: true });
    throw error;
  }
  return {
    browser,
    async open(url: string, openOptions: OpenOptions = {}): Promise<WatchedPage> {
      const page = await browser.newPage();
      if (openOptions.scriptedMicrophone) await page.addInitScript({ content: SCRIPTED_MICROPHONE });
      if (openOptions.recordWire) await page.addInitScript({ content: WIRE_RECORDER });
      const watched: WatchedPage = { page, console: [], errors: [], requests: [] };
      page.on("console", (message) => watched.console.push(`${message.type()}: ${message.text()}`));
      page.on("pageerror", (error) => watched.errors.push(error.message));
      page.on("request", (request) => watched.requests.push(request.url()));
      await page.goto(url, { timeout: 10_000 });
      return watched;
    },
    async close(): Promise<void> {
      await browser.close();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

/** `path` if Chromium can play it as is (PCM16, mono, 16 or 48 kHz), else a 16 kHz mono copy in `scratch`. */
async function chromiumWav(path: string, scratch: string): Promise<string> {
  const wav = readWav(await readFile(path), path);
  if (wav.numChannels === 1 && (wav.sampleRate === 16_000 || wav.sampleRate === 48_000)) return path;
  const channels = deinterleave(wav.audio, wav.numChannels);
  const mono = new Int16Array(channels[0]?.length ?? 0);
  for (let i = 0; i < mono.length; i++) {
    let sum = 0;
    for (const channel of channels) sum += channel[i] ?? 0;
    mono[i] = Math.round(sum / channels.length);
  }
  const converted = join(scratch, "microphone-16k.wav");
  await writeWavFile(converted, {
    audio: await resampleOnce(mono, wav.sampleRate, 16_000),
    sampleRate: 16_000,
  });
  return converted;
}
