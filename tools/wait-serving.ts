/**
 * Waits until a gateway reports SERVING through grpc.health.v1 (its default model is ready in Triton).
 * Usage: node dist/tools/wait-serving.js HOST:PORT [--timeout-seconds N] [--pid PID]
 * Exits 0 once SERVING; 1 when the time is up or the process PID has exited, printing the last status seen.
 */
import { parseArgs } from "node:util";
import { healthClient } from "./health-client.js";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { "timeout-seconds": { type: "string", default: "30" }, pid: { type: "string" } },
});
const address = positionals[0] ?? "127.0.0.1:50051";
const giveUp = Date.now() + Number(values["timeout-seconds"]) * 1000;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const health = healthClient(address);
let last = "no answer";
for (;;) {
  last = await health.check("", 500).catch((error: Error) => `no answer (${error.message})`);
  if (last === "SERVING") break;
  if (values.pid && !alive(Number(values.pid))) {
    console.error(`wait-serving: process ${values.pid} exited; last health status: ${last}`);
    process.exit(1);
  }
  if (Date.now() > giveUp) {
    console.error(`wait-serving: ${address} not SERVING after ${values["timeout-seconds"]} s; last health status: ${last}`);
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}
health.close();
