/** How often the meter is refreshed, in ms. */
const LEVEL_INTERVAL_MS = 100;

/**
 * Measures a microphone track's level (RMS of the latest analyser window, 0–1) and hands it to
 * `onLevel` every {@link LEVEL_INTERVAL_MS}. The WebSocket transport's `WavMediaManager` reports no
 * local audio level, so the page measures the track the client announces with `onTrackStarted`.
 * Returns a function that stops measuring and releases the audio context.
 */
export function meterTrack(track: MediaStreamTrack, onLevel: (level: number) => void): () => void {
  const context = new AudioContext();
  const source = context.createMediaStreamSource(new MediaStream([track]));
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    onLevel(Math.min(1, Math.sqrt(sum / samples.length) * 4));
  }, LEVEL_INTERVAL_MS);
  return () => {
    clearInterval(timer);
    source.disconnect();
    void context.close();
    onLevel(0);
  };
}
