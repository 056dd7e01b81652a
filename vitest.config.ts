import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      { test: { name: "parity", include: ["test/parity/**/*.test.ts"], testTimeout: 120_000 } },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
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
