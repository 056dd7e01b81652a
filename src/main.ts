/** The composition root: reads the configuration, builds each stage and wires them together. */
import { startTracing } from "./observability/tracing.js";
import { existsSync, readFileSync } from "node:fs";
import { endianness } from "node:os";
import { openAccess } from "./api/auth/access.js";
import { Drain } from "./api/drain.js";
import { GatewayHealth } from "./api/health.js";
import { startHttpServer } from "./api/http/server.js";
import { Reranker } from "./api/reranker.js";
import { startApiServer } from "./api/server.js";
import { ListenerTls } from "./api/tls.js";
import { deployable, loadRegistry, type ModelSpec, type Registry } from "./catalog/registry.js";
import { loadConfig, type GatewayConfig } from "./config/config.js";
import { log } from "./observability/logger.js";
import { GatewayMetrics } from "./observability/metrics.js";
import { ModelPipeline, tokenizerFileOf } from "./pipeline/scorer.js";
import { Router } from "./routing/router.js";
import { TokenizerPool } from "./tokenization/pool.js";
import { TritonClient } from "./triton/client.js";
import { TritonEndpoints } from "./triton/endpoints.js";
import { ModelReadiness } from "./triton/readiness.js";

const checkOnly = process.argv.includes("--check-config");
// Before anything else, so that every span the gateway starts goes to the configured exporter.
const stopTracing = checkOnly ? undefined : startTracing();

/** The models the configuration serves: the registry's selection less those whose tokenizer file is missing. */
function servedModels(config: GatewayConfig): { registry: Registry; skipped: ModelSpec[] } {
  const tokenizerFile = (spec: ModelSpec) => tokenizerFileOf(config.tokenizerDir, spec);
  return deployable(loadRegistry(config.registryFile, config.serving), config.serving, (spec) => existsSync(tokenizerFile(spec)));
}

/** --check-config: validates the environment and the registry and says what would be served, without Triton. */
function checkConfig(): void {
  try {
    const config = loadConfig();
    const { registry, skipped } = servedModels(config);
    const lines = [
      "configuration OK",
      `gRPC listen:    ${config.listenAddress}`,
      `HTTP listen:    ${config.httpListenAddress}`,
      `metrics listen: ${config.metricsListen}`,
      `Triton:         ${config.tritonUrls.join(", ")}`,
      `registry:       ${config.registryFile} (target ${config.serving.target})`,
      `models:         ${[...registry.models.keys()].join(", ")} (default ${registry.defaultModel})`,
      ...(skipped.length > 0 ? [`left out:       ${skipped.map((spec) => spec.name).join(", ")} (no tokenizer file)`] : []),
      `drain grace:    ${config.drainGraceMs} ms`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

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
  const { registry, skipped } = servedModels(config);
  for (const spec of skipped) {
    log.warn("model left out: its tokenizer file is missing (triton-models/README.md shows how to export it)", {
      model: spec.name,
      tokenizer: tokenizerFileOf(config.tokenizerDir, spec),
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
  const drain = new Drain(health);
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
    maxWindowsPerRequest: config.maxWindowsPerRequest,
    drain,
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

  // Health goes NOT_SERVING and new calls are refused at once; the calls in flight get the grace period to finish.
  const shutdown = async (signal: string) => {
    log.info("draining", { signal, callsInFlight: drain.calls, graceMs: config.drainGraceMs });
    const started = Date.now();
    const cut = await drain.drain(config.drainGraceMs);
    readiness.stop();
    router.shutdown();
    metricsServer.server.close();
    tls?.close();
    closeAccess();
    const forceClose = () => {
      server.forceShutdown();
      http.forceClose();
    };
    if (cut > 0) {
      log.error("drain grace period ran out: cutting the calls still in flight", { calls: cut, graceMs: config.drainGraceMs });
      forceClose();
    } else {
      // Only health watches, idle connections and calls being refused are left; they get what is left of the grace.
      const closing = setTimeout(forceClose, Math.max(0, config.drainGraceMs - (Date.now() - started)));
      await Promise.all([new Promise<void>((resolve) => server.tryShutdown(() => resolve())), http.close()]);
      clearTimeout(closing);
      await tokenizers.close();
      log.info("drained", { ms: Date.now() - started });
    }
    triton.close();
    await stopTracing?.();
    process.exit(cut > 0 ? 1 : 0);
  };
  // A second signal is not caught: it ends the process at once, as an operator who will not wait expects.
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}

if (checkOnly) checkConfig();
else
  main().catch((error: Error) => {
    log.error("start-up failed", { error: error.message });
    process.exit(1);
  });
