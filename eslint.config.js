import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      // Pipeline code reads time only through the injected Clock (STYLE §4).
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: "Use the injected Clock (clock.now())." },
      ],
    },
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/clock/system-clock.ts"],
    rules: {
      "no-restricted-globals": [
        "error",
        { name: "setTimeout", message: "Schedule through the injected Clock (STYLE §4)." },
        { name: "setInterval", message: "Schedule through the injected Clock (STYLE §4)." },
      ],
    },
  },
);
