/** Run-time faults of the test Triton's CPU models (see test/triton/fault_injecting_reranker.py). */
import { renameSync, rmSync, writeFileSync } from "node:fs";
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
