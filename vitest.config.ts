import { defineConfig } from "vitest/config";

// Two projects: the unit/integration suite over `src/` (run first), and a small
// suite that checks the built package's `exports` map (run after `npm run build`).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/exports/**"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: "exports",
          include: ["test/exports/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
    ],
  },
});
