import { describe, expect, it } from "vitest";
import { CancelledError, InterruptedError, InvalidOptionError } from "../../src/errors.js";

describe("control-flow errors", () => {
  it("CancelledError and InterruptedError carry no stack (they are made by the thousand); other errors do, and the limit is restored", () => {
    const limit = Error.stackTraceLimit;
    for (const error of [new CancelledError("p", "torn down"), new InterruptedError("p")]) {
      expect(error.stack).not.toMatch(/\n\s+at /);
      expect(error.message).toMatch(/^p: /);
    }
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new InvalidOptionError("bad").stack).toMatch(/\n\s+at /);
  });
});
