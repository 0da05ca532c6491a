import type { DevServerCloseReport } from "./dev-server-options.js";

/** What a session worker is started with (`workerData`). @internal */
export interface SessionWorkerInit {
  readonly index: number;
  /** `file:` URL of the application's module. */
  readonly module: string;
  readonly data: unknown;
  /** The server's {@link SharedSessionSlots} buffer. */
  readonly slots: SharedArrayBuffer;
  readonly host: string;
  readonly pageUrl: string;
  readonly origins: readonly string[];
  readonly token: string | undefined;
  readonly maxSessions: number;
  readonly sessionTimeoutMs: number | null;
  readonly sessionGraceMs: number;
  readonly maxMessageBytes: number;
}

/** Main thread → session worker. @internal */
export type MainToWorker =
  | { readonly type: "close"; readonly graceMs: number; readonly cancelTimeoutMs: number }
  | { readonly type: "exit" };

/** Session worker → main thread. @internal */
export type WorkerToMain =
  | { readonly type: "listening"; readonly port: number }
  | { readonly type: "log"; readonly level: "debug" | "info" | "warn" | "error"; readonly message: string }
  | { readonly type: "closed"; readonly report: DevServerCloseReport };
