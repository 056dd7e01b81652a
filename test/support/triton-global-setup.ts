/**
 * Starts one real Triton Inference Server (the PyPI wheel's tritonserver, CPU) for the integration tests,
 * on free ports and its own run folder, serving every CPU model with weights, and always stops it afterwards.
 * It serves the test model repository (test/triton/build-model-repository.sh, built into .run/test-model-repository):
 * the product's configs and weights, run by the shipped model wrapped with fault injection (RERANK_FAULT_INJECTION_DIR).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { freePort } from "./ports.js";
import { buildTestTokenizers } from "./test-tokenizers.js";

const root = join(import.meta.dirname, "..", "..");

declare module "vitest" {
  export interface ProvidedContext {
    tritonGrpcUrl: string;
    tritonEnv: Record<string, string>;
    /** RERANK_TOKENIZER_DIR holding every CPU model's tokenizer. */
    tokenizerDir: string;
    /** RERANK_FAULT_INJECTION_DIR of the Triton process: <model>.json there slows or fails that model. */
    faultDir: string;
  }
}

function triton(command: "start" | "stop", env: Record<string, string>): void {
  execFileSync("bash", [join(root, "ops", "triton.sh"), command], { env: { ...process.env, ...env }, stdio: "inherit" });
}

/** The product's CPU models, each served by test/triton/fault_injecting_reranker.py; rebuilt on every run. */
function buildTestModelRepository(): string {
  const dir = join(root, ".run", "test-model-repository");
  execFileSync("bash", [join(root, "test", "triton", "build-model-repository.sh"), dir], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  return dir;
}

export default async function setup(project: TestProject): Promise<() => void> {
  const env = {
    TRITON_MODEL_REPOSITORY: buildTestModelRepository(),
    TRITON_RUN_DIR: join(root, ".run", "test-triton"),
    TRITON_GRPC_PORT: String(await freePort()),
    TRITON_HTTP_PORT: String(await freePort()),
    TRITON_METRICS_PORT: String(await freePort()),
    RERANK_FAULT_INJECTION_DIR: join(root, ".run", "test-faults"),
  };
  rmSync(env.RERANK_FAULT_INJECTION_DIR, { recursive: true, force: true });
  mkdirSync(env.RERANK_FAULT_INJECTION_DIR, { recursive: true });
  project.provide("faultDir", env.RERANK_FAULT_INJECTION_DIR);
  project.provide("tokenizerDir", buildTestTokenizers());
  triton("start", env);
  project.provide("tritonGrpcUrl", `127.0.0.1:${env.TRITON_GRPC_PORT}`);
  project.provide("tritonEnv", env);
  return () => triton("stop", env);
}
