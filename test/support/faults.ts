/** Run-time faults of the test Triton's CPU models (see test/triton/fault_injecting_reranker.py). */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";

export function setFault(model: string, fault: { delay_ms?: number; failure_rate?: number }): void {
  const file = join(inject("faultDir"), `${model}.json`);
  // Renamed into place so that a batch never reads half a file.
  writeFileSync(`${file}.tmp`, JSON.stringify(fault));
  renameSync(`${file}.tmp`, file);
}

export function clearFault(model: string): void {
  rmSync(join(inject("faultDir"), `${model}.json`), { force: true });
}

/**
 * Every request the model saw cancelled inside Triton while a delay held it (`is_cancelled()`, polled by the test
 * model), oldest first, each with how far into the delay it was seen. The record grows for the whole run: compare
 * counts before and after.
 */
export function cancellationsSeen(model: string): { after_ms: number }[] {
  const file = join(inject("faultDir"), `${model}.cancelled`);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line));
}

/** Follows the cancellations `model` sees from now on: the returned function reads the ones seen since this call. */
export function watchCancellations(model: string): () => { after_ms: number }[] {
  const before = cancellationsSeen(model).length;
  return () => cancellationsSeen(model).slice(before);
}
