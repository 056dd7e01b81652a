/**
 * Writes triton-models/{cpu,gpu}/<model>/config.pbtxt from the model registry.
 * Usage: npm run triton:configs [-- --check]   (--check fails when a committed file is out of date)
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config/config.js";
import { packageRoot } from "../src/config/paths.js";
import { loadRegistry } from "../src/models/registry.js";
import { renderModelConfig, type RepositoryTarget } from "../src/triton/model-config.js";

const check = process.argv.includes("--check");
const registry = loadRegistry(loadConfig().registryFile);
const stale: string[] = [];
for (const spec of registry.models.values()) {
  for (const target of ["cpu", "gpu"] as RepositoryTarget[]) {
    const dir = join(packageRoot(), "triton-models", target, spec.triton.model);
    const file = join(dir, "config.pbtxt");
    const text = renderModelConfig(spec, target);
    if (existsSync(file) && readFileSync(file, "utf8") === text) continue;
    if (check) {
      stale.push(file);
    } else {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, text);
      console.log(`wrote ${file}`);
    }
  }
}
if (stale.length > 0) {
  console.error(`out of date (run npm run triton:configs):\n${stale.join("\n")}`);
  process.exit(1);
}
