import { InvalidOptionError } from "../../errors.js";

/** Checks an option in ms (finite, ≥ 0), naming it and its owner when it is not. @internal */
export function checkMs(owner: string, name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
    throw new InvalidOptionError(
      `${owner}: ${name} must be a finite number of ms ≥ 0 (got ${String(value)})`,
    );
  return v;
}

/** Checks a count option (a whole number ≥ 1), naming it and its owner when it is not. @internal */
export function checkCount(owner: string, name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1)
    throw new InvalidOptionError(`${owner}: ${name} must be a whole number ≥ 1 (got ${String(value)})`);
  return v;
}

/** Runs `next` after `first` (not named `then`: a module exporting `then` is a thenable), synchronously when `first` did not return a promise. @internal */
export function andThen(first: void | Promise<void>, next: () => void | Promise<void>): void | Promise<void> {
  return first ? first.then(next) : next();
}
