// Fails the image build when a model the image is meant to serve has no tokenizer file in it: the gateway would
// otherwise leave the model out at start-up (or refuse to start when RERANK_MODELS names it).
// Usage (from the image's /app, after npm run build): RERANK_TARGET=gpu [RERANK_MODELS=a,b] node check-tokenizers.mjs
import { existsSync } from "node:fs";
import { loadConfig } from "./dist/src/config/config.js";
import { loadRegistry } from "./dist/src/catalog/registry.js";
import { tokenizerFileOf } from "./dist/src/pipeline/scorer.js";

const config = loadConfig();
const registry = loadRegistry(config.registryFile, config.serving);
const missing = [...registry.models.values()].filter((spec) => !existsSync(tokenizerFileOf(config.tokenizerDir, spec)));
for (const spec of missing) console.error(`no tokenizer for ${spec.name}: ${tokenizerFileOf(config.tokenizerDir, spec)}`);
if (missing.length > 0) process.exit(1);
console.log(`tokenizers present for ${[...registry.models.keys()].join(", ")} (default ${registry.defaultModel})`);
