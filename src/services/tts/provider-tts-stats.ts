/** Counters of a streaming TTS provider service (Cartesia, ElevenLabs), for tests and "where did that audio go?". */
export interface ProviderTTSStats {
  /** Sentences sent. */
  sentences: number;
  /** Audio chunks received for a sentence being spoken. */
  chunks: number;
  /** Chunks that arrived for a context already cancelled (interrupted, abandoned): dropped, never played. */
  droppedAfterCancel: number;
  /** Messages about a context the service does not know: dropped. */
  unknownContext: number;
  /** Messages that could not be read: ignored. */
  malformed: number;
  /** A sentence's audio that ended on half a sample: the odd byte dropped. */
  oddBytesDropped: number;
}

/** A {@link ProviderTTSStats} with every counter at zero. */
export function zeroProviderTTSStats(): ProviderTTSStats {
  return {
    sentences: 0,
    chunks: 0,
    droppedAfterCancel: 0,
    unknownContext: 0,
    malformed: 0,
    oddBytesDropped: 0,
  };
}
