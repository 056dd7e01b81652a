/** A tokenizer pool thread: encodes requests with its own PairEncoder (and so its own tokenizer cache). */
import { parentPort } from "node:worker_threads";
import { transferables } from "./encoded-rows.js";
import { PairEncoder } from "./encoder.js";
import {
  packedTransferables,
  packParts,
  toWireError,
  unpackParts,
  type WorkerRequest,
  type WorkerResponse,
} from "./worker-protocol.js";

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
  const documents = request.documents.map((document) => document ?? undefined);
  const encoding = await encoder.encodeKnown(request.spec, request.query, documents, unpackParts(request.known), request.split);
  if ("missing" in encoding) {
    return [{ id: request.id, missing: encoding.missing }, []];
  }
  const parts = request.returnParts ? packParts(encoding.tokenized) : undefined;
  return [{ id: request.id, rows: encoding.rows, parts }, [...transferables(encoding.rows), ...packedTransferables(parts)]];
}
