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
import { buildTestTokenizers } from "./test-tokenizers.js";
import { tritonProcess } from "./triton-process.js";

const root = join(import.meta.dirname, "..", "..");

declare module "vitest" {
  export interface ProvidedContext {
    tritonGrpcUrl: string;
    tritonEnv: Record<string, string>;
    /** RERANK_TOKENIZER_DIR holding every CPU model's tokenizer. */
    tokenizerDir: string;
    /**
     * RERANK_FAULT_INJECTION_DIR of the Triton process: <model>.json there slows or fails that model, and the model
     * appends each cancellation it sees to <model>.cancelled.
     */
    faultDir: string;
  }
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
  const faultDir = join(root, ".run", "test-faults");
  const triton = await tritonProcess(join(root, ".run", "test-triton"), {
    TRITON_MODEL_REPOSITORY: buildTestModelRepository(),
    RERANK_FAULT_INJECTION_DIR: faultDir,
  });
  rmSync(faultDir, { recursive: true, force: true });
  mkdirSync(faultDir, { recursive: true });
  project.provide("faultDir", faultDir);
  project.provide("tokenizerDir", buildTestTokenizers());
  triton.start();
  project.provide("tritonGrpcUrl", triton.grpcUrl);
  project.provide("tritonEnv", triton.env);
  return () => triton.stop();
}
