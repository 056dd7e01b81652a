/**
 * A tritonserver (the PyPI wheel's, CPU) run through ops/triton.sh on free ports and its own run folder: the one the
 * global setup shares with every test file, and extra ones that resilience tests start, kill and restart.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { freePort } from "./ports.js";

const root = join(import.meta.dirname, "..", "..");

export interface TritonProcess {
  /** host:port of its gRPC endpoint (TRITON_GRPC_URL). */
  grpcUrl: string;
  /** http://127.0.0.1:<port>/metrics, Triton's Prometheus metrics (nv_inference_*). */
  metricsUrl: string;
  /** The environment ops/triton.sh runs with (ports, run folder, and what the caller added). */
  env: Record<string, string>;
  /** Starts it (ops/triton.sh start, which waits until the models are ready); `models` defaults to all with weights. */
  start(...models: string[]): void;
  /** Stops it and whatever it left behind; fine when it is not running. */
  stop(): void;
  /** kill -9 of the server, as a crash: no graceful shutdown. */
  kill(): void;
  /** Loads or unloads a model through Triton's model control API (the server runs in explicit mode). */
  modelControl(model: string, action: "load" | "unload"): Promise<void>;
}

export async function tritonProcess(runDir: string, extraEnv: Record<string, string> = {}): Promise<TritonProcess> {
  const [grpcPort, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const env = {
    TRITON_RUN_DIR: runDir,
    TRITON_GRPC_PORT: String(grpcPort),
    TRITON_HTTP_PORT: String(httpPort),
    TRITON_METRICS_PORT: String(metricsPort),
    ...extraEnv,
  };
  const tritonSh = (...args: string[]) =>
    execFileSync("bash", [join(root, "ops", "triton.sh"), ...args], { env: { ...process.env, ...env }, stdio: "inherit" });
  return {
    grpcUrl: `127.0.0.1:${grpcPort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    env,
    start: (...models) => tritonSh("start", ...models),
    stop: () => tritonSh("stop"),
    kill: () => process.kill(Number(readFileSync(join(runDir, "triton.pid"), "utf8").trim()), "SIGKILL"),
    modelControl: (model, action) => post(httpPort, `/v2/repository/models/${model}/${action}`),
  };
}

/**
 * POSTs to Triton's HTTP endpoint on a connection closed right after (agent: false): Triton's graceful stop waits
 * for open HTTP connections, and a kept-alive one would hold every stop for its whole exit timeout.
 */
function post(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = request({ host: "127.0.0.1", port, path, method: "POST", agent: false }, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () =>
        response.statusCode === 200 ? resolve() : reject(new Error(`POST ${path}: ${response.statusCode} ${body}`)),
      );
    });
    call.on("error", reject);
    call.end();
  });
}
