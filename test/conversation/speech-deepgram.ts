import {
  type FakeDeepgram,
  type ListenConnection,
  fakeDeepgramListen,
  results,
} from "../services/deepgram/fake-deepgram-listen.js";

/** Options of {@link speechDeepgram}. */
export interface SpeechDeepgramOptions {
  /** What each utterance says, in the order the user speaks them. */
  readonly utterances: readonly string[];
  /** RMS (PCM16) over which a chunk is speech. @default 400 */
  readonly speechRms?: number;
  /** ms of speech per word revealed in interim results. @default 200 */
  readonly msPerWord?: number;
  /**
   * Silence that ends a stretch of speech for the fake's own voice detector, before the
   * `endpointing` query parameter is counted on top (a real recogniser does not end a stretch in
   * the gap between two words). @default 100
   */
  readonly hangoverMs?: number;
}

/** A loopback Deepgram that hears speech only where the audio is loud, with a scripted transcript. */
export interface SpeechDeepgram extends FakeDeepgram {
  /** Utterances heard so far (1-based index of the one in progress). */
  readonly heard: () => number;
}

interface Listening {
  inSpeech: boolean;
  /** ms of speech in the current utterance. */
  speechMs: number;
  /** ms of silence since the last loud chunk. */
  quietMs: number;
  /** Index of the current utterance (−1 before the first). */
  utterance: number;
  /** Words of the current utterance already sent as final. */
  finalized: number;
  /** Words of the current utterance sent in interim results so far. */
  revealed: number;
}

/**
 * The loopback `/v1/listen` of `fake-deepgram-listen.ts`, with a recogniser that listens: a chunk
 * louder than `speechRms` is speech; each utterance (a stretch of speech ended by `hangoverMs` +
 * `endpointing` of silence) reveals the next scripted transcript word by word in interim results,
 * and its end is one final `Results` with `speech_final: true` holding the rest of its words, as
 * Deepgram's endpointing does. A `Finalize` before that end answers with the words so far
 * (`from_finalize`), as the base fake does. Silence is never transcribed, so a client streaming a
 * microphone in real time (speech and silence) gets transcripts only for its speech.
 */
export async function speechDeepgram(options: SpeechDeepgramOptions): Promise<SpeechDeepgram> {
  const speechRms = options.speechRms ?? 400;
  const msPerWord = options.msPerWord ?? 200;
  const hangoverMs = options.hangoverMs ?? 100;
  const states = new Map<ListenConnection, Listening>();
  let heard = 0;
  const words = (utterance: number): string[] =>
    (options.utterances[utterance] ?? "").split(/\s+/u).filter(Boolean);

  const onAudio = (conn: ListenConnection, _totalMs: number, chunk: Buffer): void => {
    let s = states.get(conn);
    if (!s) {
      s = { inSpeech: false, speechMs: 0, quietMs: 0, utterance: heard - 1, finalized: 0, revealed: 0 };
      states.set(conn, s);
    }
    // A Finalize (answered by the base fake) made the words revealed so far final.
    if (conn.pending.length === 0 && s.revealed > s.finalized) s.finalized = s.revealed;
    const rate = Number(conn.query.get("sample_rate"));
    const endpointing = Number(conn.query.get("endpointing") ?? "10");
    const samples = Math.floor(chunk.length / 2);
    const chunkMs = (samples / rate) * 1000;
    let sum = 0;
    for (let i = 0; i < samples; i++) {
      const v = chunk.readInt16LE(i * 2);
      sum += v * v;
    }
    const loud = samples > 0 && Math.sqrt(sum / samples) > speechRms;
    if (loud) {
      if (!s.inSpeech) {
        s.inSpeech = true;
        s.speechMs = 0;
        s.utterance++;
        s.finalized = 0;
        s.revealed = 0;
        heard = Math.max(heard, s.utterance + 1);
        conn.pending = [];
      }
      s.quietMs = 0;
      const all = words(s.utterance);
      const before = Math.min(all.length, Math.ceil(s.speechMs / msPerWord));
      s.speechMs += chunkMs;
      const after = Math.min(all.length, Math.ceil(s.speechMs / msPerWord));
      if (after > before) {
        s.revealed = after;
        conn.pending = all.slice(s.finalized, after);
        send(conn, results(conn.pending.join(" "), { isFinal: false }));
      }
      return;
    }
    if (!s.inSpeech) return;
    s.quietMs += chunkMs;
    if (s.quietMs < hangoverMs + endpointing) return;
    s.inSpeech = false;
    // The end of the utterance: everything not yet final, with speech_final.
    const rest = words(s.utterance).slice(s.finalized);
    s.finalized += rest.length;
    conn.pending = [];
    if (rest.length > 0) send(conn, results(rest.join(" "), { isFinal: true, speechFinal: true }));
  };

  const server = await fakeDeepgramListen({ msPerWord: Number.POSITIVE_INFINITY, words: ["-"], onAudio });
  return Object.assign(server, { heard: () => heard });
}

function send(conn: ListenConnection, message: unknown): void {
  if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(message));
}
