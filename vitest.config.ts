import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      // Score parity needs Triton, so it runs in the integration project; the rest of parity is tokenizer-only.
      {
        test: {
          name: "parity",
          include: ["test/parity/**/*.test.ts"],
          exclude: ["test/parity/scores.test.ts"],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/parity/scores.test.ts"],
          globalSetup: ["test/support/triton-global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // One real Triton on 2 cores: files share it, so run them one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
