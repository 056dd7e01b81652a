import { availableParallelism } from "node:os";
import { isAbsolute, join } from "node:path";
import type { ServingSelection, Target } from "../catalog/registry.js";
import { packageRoot } from "./paths.js";

/** Everything an operator can set, read once at start-up from the environment (12-factor, Kubernetes-friendly). */
export interface GatewayConfig {
  /** host:port the gRPC API listens on. */
  listenAddress: string;
  /** host:port the HTTP/JSON API (Cohere, Jina and TEI compatible) listens on. */
  httpListenAddress: string;
  /** Triton's gRPC endpoints (host:port), one per replica. */
  tritonUrls: string[];
  /** host:port of the Prometheus /metrics endpoint. */
  metricsListen: string;
  /** The model registry file: the single source of truth for every model served. */
  registryFile: string;
  /** Which of the registry's models this gateway serves. */
  serving: ServingSelection;
  /** Folder the registry's tokenizer paths are relative to. */
  tokenizerDir: string;
  /** Most documents one Rerank request may carry. */
  maxDocuments: number;
  /** Largest request message accepted; larger ones get RESOURCE_EXHAUSTED from gRPC itself, 413 over HTTP. */
  maxMessageBytes: number;
  /** Largest document accepted, in UTF-8 bytes; a larger one is INVALID_ARGUMENT naming its index. */
  maxDocumentBytes: number;
  /** Tokenizer worker threads. */
  tokenizerThreads: number;
  /** Bytes of documents' token ids kept for later requests (0: no cache). */
  tokenCacheBytes: number;
  /** Time budget for one Triton call when the client sets no deadline. */
  defaultTimeoutMs: number;
  /** How often model readiness is polled from Triton (drives health and ListModels). */
  readinessPollMs: number;
  /** TLS of both listeners (PEM files, re-read while running); absent: plaintext. */
  listenerTls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** TLS to Triton: the CA its certificate chains to, and a client certificate where Triton asks for one. */
  tritonTls?: { caFile: string; certFile?: string; keyFile?: string };
  /** The API keys file (re-read while running); absent: no authentication. */
  apiKeysFile?: string;
}

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  }
  return value;
}

/** A file named by `name`, relative to the working directory; undefined when unset or empty. */
function optionalPathFrom(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  return isAbsolute(raw) ? raw : join(process.cwd(), raw);
}

function pathFrom(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  return optionalPathFrom(env, name) ?? join(packageRoot(), fallback);
}

/** A certificate and its key, named by two variables that must be set together. */
function certificateFrom(env: NodeJS.ProcessEnv, certName: string, keyName: string) {
  const [certFile, keyFile] = [optionalPathFrom(env, certName), optionalPathFrom(env, keyName)];
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Error(`${certName} and ${keyName} must be set together`);
  return certFile === undefined ? undefined : { certFile, keyFile: keyFile! };
}

function listenerTlsFrom(env: NodeJS.ProcessEnv): GatewayConfig["listenerTls"] {
  const certificate = certificateFrom(env, "RERANK_TLS_CERT_FILE", "RERANK_TLS_KEY_FILE");
  const clientCaFile = optionalPathFrom(env, "RERANK_TLS_CLIENT_CA_FILE");
  if (clientCaFile !== undefined && certificate === undefined) {
    throw new Error("RERANK_TLS_CLIENT_CA_FILE (mTLS) needs RERANK_TLS_CERT_FILE and RERANK_TLS_KEY_FILE");
  }
  return certificate && { ...certificate, clientCaFile };
}

function tritonTlsFrom(env: NodeJS.ProcessEnv): GatewayConfig["tritonTls"] {
  const certificate = certificateFrom(env, "TRITON_TLS_CERT_FILE", "TRITON_TLS_KEY_FILE");
  const caFile = optionalPathFrom(env, "TRITON_TLS_CA_FILE");
  if (caFile === undefined && certificate !== undefined) {
    throw new Error("TRITON_TLS_CERT_FILE and TRITON_TLS_KEY_FILE need TRITON_TLS_CA_FILE (TLS to Triton is on when it is set)");
  }
  return caFile === undefined ? undefined : { caFile, ...certificate };
}

function servingFrom(env: NodeJS.ProcessEnv): ServingSelection {
  const target = env.RERANK_TARGET ?? "cpu";
  if (target !== "cpu" && target !== "gpu") throw new Error(`RERANK_TARGET must be cpu or gpu, got "${target}"`);
  const models = env.RERANK_MODELS?.split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  return {
    target: target as Target,
    models: models?.length ? models : undefined,
    defaultModel: env.RERANK_DEFAULT_MODEL || undefined,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return {
    listenAddress: env.RERANK_LISTEN ?? "0.0.0.0:50051",
    httpListenAddress: env.RERANK_HTTP_LISTEN ?? "0.0.0.0:8080",
    tritonUrls: (env.TRITON_GRPC_URL ?? "127.0.0.1:8001")
      .split(",")
      .map((url) => url.trim())
      .filter(Boolean),
    // Loopback: metrics name models, endpoints and API key names, for the operator's scraper, not the clients.
    metricsListen: env.RERANK_METRICS_LISTEN ?? "127.0.0.1:9464",
    registryFile: pathFrom(env, "RERANK_REGISTRY", "src/catalog/registry.json"),
    serving: servingFrom(env),
    tokenizerDir: pathFrom(env, "RERANK_TOKENIZER_DIR", "tokenizers"),
    maxDocuments: intFrom(env, "RERANK_MAX_DOCUMENTS", 1000, 1),
    maxMessageBytes: intFrom(env, "RERANK_MAX_MESSAGE_BYTES", 8 * 1024 * 1024, 1024),
    // 1 MiB: ~230k tokens of English, 28x the longest context served (mxbai v2's 8,192 tokens, ~40 KB of text).
    maxDocumentBytes: intFrom(env, "RERANK_MAX_DOCUMENT_BYTES", 1024 * 1024, 1),
    tokenizerThreads: intFrom(env, "RERANK_TOKENIZER_THREADS", Math.max(1, availableParallelism() - 1), 1),
    tokenCacheBytes: intFrom(env, "RERANK_TOKEN_CACHE_BYTES", 64 * 1024 * 1024, 0),
    defaultTimeoutMs: intFrom(env, "RERANK_DEFAULT_TIMEOUT_MS", 60_000, 1),
    readinessPollMs: intFrom(env, "RERANK_READINESS_POLL_MS", 2_000, 100),
    listenerTls: listenerTlsFrom(env),
    tritonTls: tritonTlsFrom(env),
    apiKeysFile: optionalPathFrom(env, "RERANK_API_KEYS_FILE"),
  };
}
