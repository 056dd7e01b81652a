/** A tokenizer pool thread: encodes requests with its own PairEncoder (and so its own tokenizer cache). */
import { parentPort } from "node:worker_threads";
import { transferables } from "./encoded-rows.js";
import { PairEncoder } from "./encoder.js";
import { toWireError, type WorkerRequest, type WorkerResponse } from "./worker-protocol.js";

const port = parentPort;
if (!port) {
  throw new Error("worker.ts runs as a TokenizerPool worker thread, not on its own");
}
const encoder = new PairEncoder();

port.on("message", (request: WorkerRequest) => {
  void handle(request).then(
    ([response, transfer]) => port.postMessage(response, transfer),
    (error: unknown) => port.postMessage({ id: request.id, error: toWireError(error) } satisfies WorkerResponse),
  );
});

async function handle(request: WorkerRequest): Promise<[WorkerResponse, ArrayBuffer[]]> {
  if (request.kind === "prepare") {
    await encoder.prepare(request.spec);
    return [{ id: request.id }, []];
  }
  const rows = await encoder.encodeRows(request.spec, request.query, request.documents);
  return [{ id: request.id, rows }, transferables(rows)];
}
