/** The composition root: reads the configuration, builds each stage and wires them together. */
import { existsSync, readFileSync } from "node:fs";
import { endianness } from "node:os";
import { openAccess } from "./api/auth/access.js";
import { GatewayHealth } from "./api/health.js";
import { startHttpServer } from "./api/http/server.js";
import { Reranker } from "./api/reranker.js";
import { startApiServer } from "./api/server.js";
import { ListenerTls } from "./api/tls.js";
import { deployable, loadRegistry, type ModelSpec } from "./catalog/registry.js";
import { loadConfig, type GatewayConfig } from "./config/config.js";
import { log } from "./observability/logger.js";
import { GatewayMetrics } from "./observability/metrics.js";
import { ModelPipeline, tokenizerFileOf } from "./pipeline/scorer.js";
import { Router } from "./routing/router.js";
import { TokenizerPool } from "./tokenization/pool.js";
import { TritonClient } from "./triton/client.js";
import { TritonEndpoints } from "./triton/endpoints.js";
import { ModelReadiness } from "./triton/readiness.js";

/** The PEM files of TLS to Triton, read once at start-up. */
function tritonTlsOf(files: GatewayConfig["tritonTls"]) {
  return (
    files && {
      ca: readFileSync(files.caFile),
      cert: files.certFile === undefined ? undefined : readFileSync(files.certFile),
      key: files.keyFile === undefined ? undefined : readFileSync(files.keyFile),
    }
  );
}

const isLoopback = (address: string) => /^(127\.|localhost:|\[::1\]:)/.test(address);

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
  // Certificates and keys first: a wrong file fails start-up before the models load.
  const tritonTls = tritonTlsOf(config.tritonTls);
  const tls = config.listenerTls && new ListenerTls(config.listenerTls, metrics);
  const { access, close: closeAccess } = openAccess(config.apiKeysFile, metrics);
  const triton = new TritonEndpoints(
    config.tritonUrls.map((url) => new TritonClient(url, config.maxMessageBytes, tritonTls)),
    metrics,
  );
  const tokenizers = new TokenizerPool(config.tokenizerThreads, { cacheBytes: config.tokenCacheBytes, metrics });
  const pipelines = new Map(
    [...registry.models.values()].map((spec) => [
      spec.name,
      new ModelPipeline(spec, config.tokenizerDir, tokenizers, triton, metrics),
    ]),
  );
  await tokenizers.preload([...pipelines.values()].map((pipeline) => pipeline.tokenization));

  const readiness = new ModelReadiness(triton, [...registry.models.values()]);
  const health = new GatewayHealth(readiness, registry.defaultModel);
  readiness.on("mismatch", (problems) => {
    log.error("Triton serves a model differently from the registry; stopping", { problems });
    process.exit(1);
  });
  await readiness.refresh();
  readiness.start(config.readinessPollMs);

  const router = new Router(pipelines, metrics);
  const metricsServer = await metrics.serve(config.metricsListen);
  const reranker = new Reranker({
    registry,
    router,
    readiness,
    metrics,
    maxDocuments: config.maxDocuments,
    maxDocumentBytes: config.maxDocumentBytes,
  });
  const { server, port } = await startApiServer({ ...config, tls, access }, health, reranker);
  const http = await startHttpServer({ ...config, listenAddress: config.httpListenAddress, tls, access }, health, reranker);
  log.info("rerank-gateway listening", {
    address: config.listenAddress.replace(/:\d+$/, `:${port}`),
    httpAddress: config.httpListenAddress.replace(/:\d+$/, `:${http.port}`),
    tls: tls ? (tls.mutual ? "mutual" : "server") : "off",
    apiKeys: access.enabled ? access.keyCount : "off",
    triton: config.tritonUrls,
    tritonTls: tritonTls !== undefined,
    metricsPort: metricsServer.port,
    models: [...registry.models.keys()],
    defaultModel: registry.defaultModel,
  });

  if (access.enabled && !tls && ![config.listenAddress, config.httpListenAddress].every(isLoopback)) {
    log.warn("API keys travel in plaintext: set RERANK_TLS_CERT_FILE and RERANK_TLS_KEY_FILE", {
      address: config.listenAddress,
      httpAddress: config.httpListenAddress,
    });
  }

  const shutdown = (signal: string) => {
    log.info("shutting down", { signal });
    health.drain();
    readiness.stop();
    router.shutdown();
    metricsServer.server.close();
    tls?.close();
    closeAccess();
    // Both APIs finish the requests they hold before the tokenizers and Triton channels go.
    const grpcClosed = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    void Promise.all([grpcClosed, http.close()])
      .then(() => tokenizers.close())
      .finally(() => {
        triton.close();
        process.exit(0);
      });
    setTimeout(() => {
      server.forceShutdown();
      http.forceClose();
    }, 10_000).unref();
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: Error) => {
  log.error("start-up failed", { error: error.message });
  process.exit(1);
});
