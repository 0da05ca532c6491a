import { afterEach } from "vitest";

/**
 * Wraps a loopback server's start function so that every server it starts is closed after each
 * test. Call it at the top level of a test file: `const server = closedAfterEach(loopbackOpenAI);`.
 */
export function closedAfterEach<S extends { close(): Promise<unknown> }, A extends unknown[]>(
  start: (...args: A) => Promise<S>,
): (...args: A) => Promise<S> {
  const servers: S[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (...args: A): Promise<S> => {
    const server = await start(...args);
    servers.push(server);
    return server;
  };
}
