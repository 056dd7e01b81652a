import { existsSync } from "node:fs";
import { endianness } from "node:os";
import { HealthImplementation } from "grpc-health-check";
import { startApiServer } from "./api/server.js";
import { loadConfig } from "./config/config.js";
import { deployable, loadRegistry, type ModelSpec } from "./models/registry.js";
import { ModelScorer, tokenizerFileOf } from "./models/scorer.js";
import { TokenizerPool } from "./models/tokenization/pool.js";
import { log } from "./observability/logger.js";
import { GatewayMetrics } from "./observability/metrics.js";
import { Router } from "./routing/router.js";
import { TritonEndpoints } from "./triton/endpoints.js";
import { GATEWAY_HEALTH_SERVICE, ModelReadiness } from "./triton/readiness.js";

async function main(): Promise<void> {
  // Triton's raw tensor contents are little-endian; batching writes them with native typed arrays.
  if (endianness() !== "LE") throw new Error("rerank-gateway needs a little-endian CPU");
  const config = loadConfig();
  const tokenizerFile = (spec: ModelSpec) => tokenizerFileOf(config.tokenizerDir, spec);
  const { registry, skipped } = deployable(loadRegistry(config.registryFile, config.serving), config.serving, (spec) =>
    existsSync(tokenizerFile(spec)),
  );
  for (const spec of skipped) {
    log.warn("model left out: its tokenizer file is missing (triton-models/README.md shows how to export it)", {
      model: spec.name,
      tokenizer: tokenizerFile(spec),
    });
  }
  const metrics = new GatewayMetrics();
  const triton = new TritonEndpoints(config.tritonUrls, config.maxMessageBytes, metrics);
  const tokenizers = new TokenizerPool(config.tokenizerThreads);
  const scorers = new Map(
    [...registry.models.values()].map((spec) => [spec.name, new ModelScorer(spec, config.tokenizerDir, tokenizers, triton)]),
  );
  await tokenizers.preload([...scorers.values()].map((scorer) => scorer.tokenization));

  const health = new HealthImplementation({ "": "NOT_SERVING", [GATEWAY_HEALTH_SERVICE]: "NOT_SERVING" });
  const readiness = new ModelReadiness(triton, registry, health, (problems) => {
    log.error("Triton serves a model differently from the registry; stopping", { problems });
    process.exit(1);
  });
  await readiness.refresh();
  readiness.start(config.readinessPollMs);

  const router = new Router(scorers, metrics);
  const metricsServer = await metrics.serve(config.metricsListen);
  const { server, port } = await startApiServer(config, health, {
    registry,
    router,
    readiness,
    metrics,
    maxDocuments: config.maxDocuments,
    defaultTimeoutMs: config.defaultTimeoutMs,
  });
  log.info("rerank-gateway listening", {
    address: config.listenAddress.replace(/:\d+$/, `:${port}`),
    triton: config.tritonUrls,
    metricsPort: metricsServer.port,
    models: [...registry.models.keys()],
    defaultModel: registry.defaultModel,
  });

  const shutdown = (signal: string) => {
    log.info("shutting down", { signal });
    health.setStatus("", "NOT_SERVING");
    readiness.stop();
    router.shutdown();
    metricsServer.server.close();
    server.tryShutdown(() => {
      void tokenizers.close().finally(() => {
        triton.close();
        process.exit(0);
      });
    });
    setTimeout(() => server.forceShutdown(), 10_000).unref();
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: Error) => {
  log.error("start-up failed", { error: error.message });
  process.exit(1);
});
