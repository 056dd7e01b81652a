/**
 * `npm run bench:peer` (opt-in, never in CI): the gateway + Triton against Infinity (PyPI infinity-emb 0.0.78,
 * optimum/ONNX engine), both serving the same random-weight cross-encoder of the ms-marco-MiniLM-L6 shape (the
 * same model.onnx file: bench/peer_model.py) on this machine's CPUs. The runs alternate (system A then B, the
 * order flipping every time) over the same requests of fresh msmarco passages, so neither profits from a cache or
 * from a quieter minute. Per case: p50/p95 latency and pairs/s at 10 and 100 documents, 1 and 4 concurrent clients.
 * Starts its own Triton, gateway and Infinity on free loopback ports and stops them at the end; the stack of
 * `make up` may stay up (it idles).
 * Setup, once (downloads infinity-emb and its dependencies into .run/peer/venv):  bench/peer-setup.sh
 * Writes bench/results/peer.json.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { packageRoot } from "../src/config/paths.js";
import { closedLoop } from "./closed-loop.js";
import { Fresh, loadDocuments } from "./documents.js";
import { Gateway } from "./gateway-client.js";
import { pick, printTable, seededRandom, summarize, type LatencySummary } from "./stats.js";

const ROOT = packageRoot();
const PEER = join(ROOT, ".run", "peer");
const MODEL = "ms-marco-minilm-l6-v2";
const ROUNDS = 3;
const DEADLINE_MS = 120_000;
const CASES = [
  { documents: 10, clients: 1, requests: 12 },
  { documents: 100, clients: 1, requests: 4 },
  { documents: 10, clients: 4, requests: 24 },
  { documents: 100, clients: 4, requests: 8 },
];

/** A loopback port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once("error", reject);
  });
}

const [gatewayPort, metricsPort, httpPort, infinityPort, tritonGrpc, tritonHttp, tritonMetrics] = await Promise.all(
  Array.from({ length: 7 }, freePort),
);
const GATEWAY_ADDRESS = `127.0.0.1:${gatewayPort}`;
const INFINITY_URL = `http://127.0.0.1:${infinityPort}`;
const TRITON_PORTS = { grpc: tritonGrpc!, http: tritonHttp!, metrics: tritonMetrics! };

interface Request {
  query: string;
  documents: string[];
}

/** One system under test: sends a request, resolves with its latency, rejects on any failure. */
interface System {
  name: string;
  rerank(request: Request): Promise<number>;
}

function gatewaySystem(gateway: Gateway): System {
  return {
    name: "gateway + Triton",
    async rerank(request) {
      const outcome = await gateway.send({ ...request, model: MODEL, truncate: true, disableFallback: true }, DEADLINE_MS);
      if (!outcome.ok) throw new Error(`gateway: ${outcome.statusName}: ${outcome.details}`);
      return outcome.latencyMs;
    },
  };
}

function infinitySystem(model: string): System {
  return {
    name: "Infinity (optimum)",
    async rerank(request) {
      const started = performance.now();
      const response = await fetch(`${INFINITY_URL}/rerank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, query: request.query, documents: request.documents, return_documents: false }),
        signal: AbortSignal.timeout(DEADLINE_MS),
      });
      const body = (await response.json()) as { results?: unknown[] };
      if (!response.ok || body.results?.length !== request.documents.length) {
        throw new Error(`Infinity: HTTP ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
      }
      return performance.now() - started;
    },
  };
}

/** Children started here, stopped in reverse order at the end whatever happens. */
class Processes {
  private readonly children: ChildProcess[] = [];

  start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): void {
    const log = openSync(join(PEER, `${name}.log`), "w");
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", log, log] });
    child.on("exit", (code) => code && console.error(`${name} exited with ${code}: see ${join(PEER, `${name}.log`)}`));
    this.children.push(child);
  }

  async stopAll(): Promise<void> {
    for (const child of this.children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  }
}

function triton(command: "start" | "stop"): void {
  const args = [command, "--run-dir", join(PEER, "triton")];
  if (command === "start") {
    args.push("--model-repository", join(PEER, "model-repository"), "--grpc-port", String(TRITON_PORTS.grpc));
    args.push("--http-port", String(TRITON_PORTS.http), "--metrics-port", String(TRITON_PORTS.metrics), MODEL);
  }
  const result = spawnSync(join(ROOT, "ops", "triton.sh"), args, { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) throw new Error(`ops/triton.sh ${command} failed`);
}

async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  while (!(await ready().catch(() => false))) {
    if (Date.now() > giveUp) throw new Error(`${what} did not come up: see the logs in ${PEER}`);
    await sleep(1_000);
  }
}

async function infinityModel(): Promise<string> {
  const response = await fetch(`${INFINITY_URL}/models`);
  const body = (await response.json()) as { data: { id: string }[] };
  return body.data[0]!.id;
}

/** Both systems score one request: the same model must give the same scores (sigmoid of the logit). */
async function scoreGap(gateway: Gateway, model: string, request: Request): Promise<number> {
  const ours = await gateway.rerank({ ...request, model: MODEL, truncate: true, disableFallback: true }, DEADLINE_MS);
  const response = await fetch(`${INFINITY_URL}/rerank`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, query: request.query, documents: request.documents, return_documents: false }),
  });
  const theirs = (await response.json()) as { results: { index: number; relevance_score: number }[] };
  const byIndex = new Map(theirs.results.map((result) => [result.index, result.relevance_score]));
  return Math.max(...ours.results.map((result) => Math.abs(result.score - (byIndex.get(result.index) ?? Number.NaN))));
}

interface CaseResult {
  system: string;
  documents: number;
  clients: number;
  requests: number;
  latencyMs: LatencySummary;
  pairsPerSecond: number;
}

async function measure(systems: System[], requestsOf: (documents: number, count: number) => Request[]) {
  const results: CaseResult[] = [];
  for (const [caseIndex, { documents, clients, requests }] of CASES.entries()) {
    const latencies = new Map<string, number[]>(systems.map((system) => [system.name, []]));
    const seconds = new Map<string, number>(systems.map((system) => [system.name, 0]));
    for (let round = 0; round < ROUNDS; round++) {
      const batch = requestsOf(documents, requests);
      const order = (round + caseIndex) % 2 === 0 ? systems : [...systems].reverse();
      for (const system of order) {
        let next = 0;
        const started = performance.now();
        const times = await closedLoop(clients, Number.POSITIVE_INFINITY, () => system.rerank(batch[next++]!), batch.length);
        seconds.set(system.name, seconds.get(system.name)! + (performance.now() - started) / 1000);
        latencies.get(system.name)!.push(...times);
      }
      process.stderr.write(`${documents} documents, ${clients} clients: round ${round + 1} of ${ROUNDS}\n`);
    }
    for (const system of systems) {
      const samples = latencies.get(system.name)!;
      results.push({
        system: system.name,
        documents,
        clients,
        requests: samples.length,
        latencyMs: summarize(samples),
        pairsPerSecond: (samples.length * documents) / seconds.get(system.name)!,
      });
    }
  }
  return results;
}

async function main(): Promise<void> {
  const required = [join(PEER, "venv", "bin", "python"), join(PEER, "checkpoint", "model.onnx")];
  const missing = required.filter((path) => !existsSync(path));
  if (missing.length) throw new Error(`missing ${missing.join(", ")}: run bench/peer-setup.sh first`);
  mkdirSync(join(PEER, "triton"), { recursive: true });
  const processes = new Processes();
  const gateway = new Gateway(GATEWAY_ADDRESS);
  try {
    triton("start");
    processes.start("gateway", process.execPath, [join(ROOT, "dist", "src", "main.js")], {
      RERANK_LISTEN: GATEWAY_ADDRESS,
      RERANK_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      RERANK_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
      TRITON_GRPC_URL: `127.0.0.1:${TRITON_PORTS.grpc}`,
      RERANK_MODELS: MODEL,
      RERANK_DEFAULT_MODEL: MODEL,
      RERANK_TOKENIZER_DIR: join(PEER, "tokenizers"),
    });
    processes.start(
      "infinity",
      join(PEER, "venv", "bin", "python"),
      [
        join(ROOT, "bench", "peer_infinity.py"),
        "v2",
        ...["--model-id", join(PEER, "checkpoint"), "--engine", "optimum", "--device", "cpu", "--batch-size", "64"],
        ...["--host", "127.0.0.1", "--port", String(infinityPort), "--no-model-warmup"],
      ],
      { INFINITY_ANONYMOUS_USAGE_STATS: "0", DO_NOT_TRACK: "1", HF_HUB_OFFLINE: "1", HF_HOME: join(PEER, "hf") },
    );
    await waitFor("the peer gateway", async () => (await gateway.listModels()).some((model) => model.ready));
    await waitFor("Infinity", async () => Boolean(await infinityModel()));
    const systems = [gatewaySystem(gateway), infinitySystem(await infinityModel())];

    const documents = await loadDocuments(seededRandom(7));
    const random = seededRandom(99);
    const fresh = new Fresh();
    const requestsOf = (count: number, requests: number): Request[] =>
      Array.from({ length: requests }, () => ({
        query: pick(random, documents.queries),
        documents: Array.from({ length: count }, () => fresh.tag(pick(random, documents.short))),
      }));
    for (const system of systems) for (const request of requestsOf(10, 2)) await system.rerank(request); // warm-up
    const gap = await scoreGap(gateway, await infinityModel(), requestsOf(10, 1)[0]!);
    console.log(`largest score difference between the two on one 10-document request: ${gap.toExponential(2)}`);
    const machine = { date: new Date().toISOString(), cpus: cpus().length, cpu: cpus()[0]?.model, loadAverage: loadavg()[0] };
    const results = await measure(systems, requestsOf);
    console.log(
      `\nSame ${MODEL}-shaped random-weight ONNX model, same msmarco requests, alternating; ${machine.cpus} CPUs (${machine.cpu}), ` +
        `load average ${machine.loadAverage?.toFixed(1)} at the start`,
    );
    printTable(
      ["system", "docs", "clients", "requests", "p50 ms", "p95 ms", "pairs/s"],
      results.map((r) => [
        r.system,
        String(r.documents),
        String(r.clients),
        String(r.requests),
        r.latencyMs.p50,
        r.latencyMs.p95,
        r.pairsPerSecond,
      ]),
    );
    const out = join(ROOT, "bench", "results");
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "peer.json"), JSON.stringify({ ...machine, rounds: ROUNDS, scoreGap: gap, results }, null, 2));
    console.log(`wrote ${join(out, "peer.json")}`);
  } finally {
    gateway.close();
    await processes.stopAll();
    triton("stop");
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
