import { availableParallelism } from "node:os";
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import type { ServingSelection } from "../catalog/registry.js";
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
  /**
   * Most windows one long_documents=split_max request may make, all documents together; unset: the Reranker's
   * default, WINDOWS_PER_DOCUMENT (8) per document of maxDocuments.
   */
  maxWindowsPerRequest?: number;
  /** Tokenizer worker threads. */
  tokenizerThreads: number;
  /** Bytes of documents' token ids kept for later requests (0: no cache). */
  tokenCacheBytes: number;
  /** Time budget for one Triton call when the client sets no deadline. */
  defaultTimeoutMs: number;
  /** How often model readiness is polled from Triton (drives health and ListModels). */
  readinessPollMs: number;
  /** After SIGTERM, how long calls in flight may run before they are cut (below Kubernetes' 30 s grace). */
  drainGraceMs: number;
  /** TLS of both listeners (PEM files, re-read while running); absent: plaintext. */
  listenerTls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** TLS to Triton: the CA its certificate chains to, and a client certificate where Triton asks for one. */
  tritonTls?: { caFile: string; certFile?: string; keyFile?: string };
  /** The API keys file (re-read while running); absent: no authentication. */
  apiKeysFile?: string;
}

/** A bad value of one variable: the message is the one line start-up stops with. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

// Each variable is a string or absent; an empty string counts as absent, so `VAR=` in a manifest means the default.
const unsetIfEmpty = (raw: unknown) => (raw === "" ? undefined : raw);

/** One variable: its schema over the raw string, and what is allowed, said in the error line. */
const variable = <T extends z.ZodType>(schema: T, allowed: string) => z.preprocess(unsetIfEmpty, schema).describe(allowed);

const integer = (fallback: number, min: number) =>
  variable(z.coerce.number().int().min(min).default(fallback), `an integer >= ${min} (default ${fallback})`);

const LISTEN_ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]*):(\d{1,5})$/;
const listenAddress = (fallback: string) =>
  variable(
    z
      .string()
      .default(fallback)
      .refine((address) => {
        const port = LISTEN_ADDRESS.exec(address)?.[2];
        return port !== undefined && Number(port) <= 65535;
      }),
    `host:port, [ipv6]:port or :port with a port of 0-65535 (default ${fallback})`,
  );

// What grpc-js dials: host:port, or a name resolver's target (dns:///triton-headless:8001, ipv4:..., unix:...).
const TRITON_TARGET = /^((dns:(\/\/[^/\s]*)?\/|ipv4:|ipv6:)?[^\s,/]+:\d{1,5}|unix:\S+)$/;
const commaList = (raw: string) =>
  raw
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);

/** A path as the operator wrote it, relative to the working directory; the default is relative to the package. */
const path = (fallback: string) =>
  variable(
    z
      .string()
      .optional()
      .transform((raw) => (raw === undefined ? join(packageRoot(), fallback) : isAbsolute(raw) ? raw : join(process.cwd(), raw))),
    `a path (default ${fallback})`,
  );

/** A file the operator may name, relative to the working directory; absent when unset. */
const optionalPath = (allowed: string) =>
  variable(
    z
      .string()
      .optional()
      .transform((raw) => (raw === undefined ? undefined : isAbsolute(raw) ? raw : join(process.cwd(), raw))),
    allowed,
  );

/** Every variable the gateway reads, with its default. */
const ENVIRONMENT = z.object({
  RERANK_LISTEN: listenAddress("0.0.0.0:50051"),
  RERANK_HTTP_LISTEN: listenAddress("0.0.0.0:8080"),
  TRITON_GRPC_URL: variable(
    z
      .string()
      .default("127.0.0.1:8001")
      .transform(commaList)
      .refine((urls) => urls.length > 0 && urls.every((url) => TRITON_TARGET.test(url))),
    "a comma-separated list of host:port or gRPC targets such as dns:///triton-headless:8001 (default 127.0.0.1:8001)",
  ),
  // Loopback: metrics name models, endpoints and API key names, for the operator's scraper, not the clients.
  RERANK_METRICS_LISTEN: listenAddress("127.0.0.1:9464"),
  RERANK_REGISTRY: path("src/catalog/registry.json"),
  RERANK_TARGET: variable(z.enum(["cpu", "gpu"]).default("cpu"), "cpu or gpu (default cpu)"),
  RERANK_MODELS: variable(
    z
      .string()
      .optional()
      .transform((raw) => (raw === undefined ? undefined : commaList(raw)))
      .refine((models) => models === undefined || models.length > 0),
    "a comma-separated list of model names of the registry",
  ),
  RERANK_DEFAULT_MODEL: variable(z.string().optional(), "a model name of the registry"),
  RERANK_TOKENIZER_DIR: path("tokenizers"),
  RERANK_MAX_DOCUMENTS: integer(1000, 1),
  RERANK_MAX_MESSAGE_BYTES: integer(8 * 1024 * 1024, 1024),
  // 1 MiB: ~230k tokens of English, 28x the longest context served (mxbai v2's 8,192 tokens, ~40 KB of text).
  RERANK_MAX_DOCUMENT_BYTES: integer(1024 * 1024, 1),
  RERANK_MAX_WINDOWS_PER_REQUEST: variable(
    z.coerce.number().int().min(1).optional(),
    "an integer >= 1 (default 8 per document of RERANK_MAX_DOCUMENTS)",
  ),
  RERANK_TOKENIZER_THREADS: integer(Math.max(1, availableParallelism() - 1), 1),
  RERANK_TOKEN_CACHE_BYTES: integer(64 * 1024 * 1024, 0),
  RERANK_DEFAULT_TIMEOUT_MS: integer(60_000, 1),
  RERANK_READINESS_POLL_MS: integer(2_000, 100),
  RERANK_DRAIN_GRACE_MS: integer(25_000, 0),
  RERANK_TLS_CERT_FILE: optionalPath("a PEM certificate file (with RERANK_TLS_KEY_FILE; unset: plaintext)"),
  RERANK_TLS_KEY_FILE: optionalPath("a PEM private key file (with RERANK_TLS_CERT_FILE)"),
  RERANK_TLS_CLIENT_CA_FILE: optionalPath("a PEM CA file: client certificates are required and checked against it"),
  TRITON_TLS_CA_FILE: optionalPath("a PEM CA file of Triton's certificate (unset: plaintext to Triton)"),
  TRITON_TLS_CERT_FILE: optionalPath("a PEM client certificate for Triton (with TRITON_TLS_KEY_FILE)"),
  TRITON_TLS_KEY_FILE: optionalPath("a PEM private key for Triton (with TRITON_TLS_CERT_FILE)"),
  RERANK_API_KEYS_FILE: optionalPath("the API keys file (unset: no authentication)"),
  // Read by the logger when it loads; checked here so that a typo stops start-up instead of logging at info.
  RERANK_LOG_LEVEL: variable(
    z.enum(["debug", "info", "warn", "error"]).default("info"),
    "debug, info, warn or error (default info)",
  ),
});

type Variable = keyof typeof ENVIRONMENT.shape;

/**
 * Reads and validates every variable; the first bad one throws a ConfigError whose message is one line naming the
 * variable, its value and what is allowed.
 */
type Variables = z.infer<typeof ENVIRONMENT>;

/** Two variables that name a certificate and its key: both or neither. */
function certificateOf(
  vars: Variables,
  certName: Variable,
  keyName: Variable,
): { certFile: string; keyFile: string } | undefined {
  const [certFile, keyFile] = [vars[certName] as string | undefined, vars[keyName] as string | undefined];
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new ConfigError(`${certName} and ${keyName} must be set together`);
  return certFile === undefined ? undefined : { certFile, keyFile: keyFile! };
}

function listenerTlsFrom(vars: Variables): GatewayConfig["listenerTls"] {
  const certificate = certificateOf(vars, "RERANK_TLS_CERT_FILE", "RERANK_TLS_KEY_FILE");
  const clientCaFile = vars.RERANK_TLS_CLIENT_CA_FILE;
  if (clientCaFile !== undefined && certificate === undefined) {
    throw new ConfigError("RERANK_TLS_CLIENT_CA_FILE (mTLS) needs RERANK_TLS_CERT_FILE and RERANK_TLS_KEY_FILE");
  }
  return certificate && { ...certificate, clientCaFile };
}

function tritonTlsFrom(vars: Variables): GatewayConfig["tritonTls"] {
  const certificate = certificateOf(vars, "TRITON_TLS_CERT_FILE", "TRITON_TLS_KEY_FILE");
  const caFile = vars.TRITON_TLS_CA_FILE;
  if (caFile === undefined && certificate !== undefined) {
    throw new ConfigError(
      "TRITON_TLS_CERT_FILE and TRITON_TLS_KEY_FILE need TRITON_TLS_CA_FILE (TLS to Triton is on when it is set)",
    );
  }
  return caFile === undefined ? undefined : { caFile, ...certificate };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const parsed = ENVIRONMENT.safeParse(env);
  if (!parsed.success) {
    const name = parsed.error.issues[0]!.path[0] as Variable;
    throw new ConfigError(`${name}=${JSON.stringify(env[name])} is not allowed: ${ENVIRONMENT.shape[name].description}`);
  }
  const vars = parsed.data;
  return {
    listenAddress: vars.RERANK_LISTEN,
    httpListenAddress: vars.RERANK_HTTP_LISTEN,
    tritonUrls: vars.TRITON_GRPC_URL,
    metricsListen: vars.RERANK_METRICS_LISTEN,
    registryFile: vars.RERANK_REGISTRY,
    serving: { target: vars.RERANK_TARGET, models: vars.RERANK_MODELS, defaultModel: vars.RERANK_DEFAULT_MODEL },
    tokenizerDir: vars.RERANK_TOKENIZER_DIR,
    maxDocuments: vars.RERANK_MAX_DOCUMENTS,
    maxMessageBytes: vars.RERANK_MAX_MESSAGE_BYTES,
    maxDocumentBytes: vars.RERANK_MAX_DOCUMENT_BYTES,
    maxWindowsPerRequest: vars.RERANK_MAX_WINDOWS_PER_REQUEST,
    tokenizerThreads: vars.RERANK_TOKENIZER_THREADS,
    tokenCacheBytes: vars.RERANK_TOKEN_CACHE_BYTES,
    defaultTimeoutMs: vars.RERANK_DEFAULT_TIMEOUT_MS,
    readinessPollMs: vars.RERANK_READINESS_POLL_MS,
    drainGraceMs: vars.RERANK_DRAIN_GRACE_MS,
    listenerTls: listenerTlsFrom(vars),
    tritonTls: tritonTlsFrom(vars),
    apiKeysFile: vars.RERANK_API_KEYS_FILE,
  };
}
