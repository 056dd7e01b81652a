import { defineConfig } from "vitest/config";

/**
 * The three projects run one after another (sequence.groupOrder: lowest first), never at the same time: on a
 * 2-core machine the integration tests' timing windows must not share the CPU with tokenizer-heavy parity runs.
 * The integration project's global setup (Triton's start-up) still runs before any project starts.
 */
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], sequence: { groupOrder: 0 } } },
      // Score parity needs Triton, so it runs in the integration project; the rest of parity is tokenizer-only.
      {
        test: {
          name: "parity",
          include: ["test/parity/**/*.test.ts"],
          exclude: ["test/parity/scores.test.ts"],
          testTimeout: 120_000,
          sequence: { groupOrder: 1 },
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
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
