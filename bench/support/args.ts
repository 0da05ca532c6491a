/**
 * A benchmark's command line: positional arguments in order, and `name=value` ones by name
 * (`npx tsx bench/x.ts 200 20 busy=1`).
 */
export function benchArgs(argv: readonly string[] = process.argv.slice(2)): {
  positional: string[];
  named: Record<string, string>;
} {
  return {
    positional: argv.filter((a) => !a.includes("=")),
    named: Object.fromEntries(
      argv.filter((a) => a.includes("=")).map((a) => a.split("=", 2) as [string, string]),
    ),
  };
}
