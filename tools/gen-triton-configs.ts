/**
 * Writes triton-models/<target>/<model>/config.pbtxt for every model of the registry (target: cpu or gpu).
 * Usage: npm run triton:configs [-- --check]   (--check fails when a committed file is out of date)
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config/config.js";
import { packageRoot } from "../src/config/paths.js";
import { loadCatalog } from "../src/catalog/registry.js";
import { renderModelConfig } from "../src/triton/model-config.js";

const check = process.argv.includes("--check");
const catalog = loadCatalog(loadConfig().registryFile);
const stale: string[] = [];
for (const spec of catalog.models.values()) {
  for (const target of spec.targets) {
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
