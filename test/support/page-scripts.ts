/**
 * Scripts installed in a test page before its own scripts run (Playwright `addInitScript`). They
 * are plain JavaScript text: they run in the browser, which the test's TypeScript does not type.
 */

/**
 * A microphone the test speaks into: `getUserMedia` returns a 16 kHz stream that is silent until
 * `window.__mic.speak(samples)` plays 16 kHz PCM16 samples into it (returns the page time it started).
 */
export const SCRIPTED_MICROPHONE = `(() => {
  let context, destination;
  const ready = () => {
    if (!context) {
      context = new AudioContext({ sampleRate: 16000 });
      destination = context.createMediaStreamDestination();
    }
    return destination;
  };
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (!constraints || !constraints.audio) throw new DOMException("scripted microphone: audio only", "NotFoundError");
    const stream = ready().stream;
    await context.resume();
    return new MediaStream(stream.getAudioTracks().map((track) => track.clone()));
  };
  window.__mic = {
    speak(samples) {
      const node = ready();
      const buffer = context.createBuffer(1, samples.length, 16000);
      const channel = buffer.getChannelData(0);
      for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(node);
      source.start();
      return performance.now();
    },
  };
})();`;

/** Keeps every binary message the page's WebSockets receive, with its arrival time, in `window.__wire`. */
export const WIRE_RECORDER = `(() => {
  const log = [];
  window.__wire = log;
  const Native = WebSocket;
  class Recorded extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener("message", (event) => {
        if (typeof event.data !== "string") log.push({ atMs: performance.now(), data: event.data });
      });
    }
  }
  window.WebSocket = Recorded;
})();`;
