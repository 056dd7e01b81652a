/**
 * The long_documents=split_max goldens of test/fixtures-build/make_split_goldens.py: the requests (requests.json)
 * and, per golden model, every document's windows as the reference algorithm (goldens/split.py) pairs and scores
 * them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { GoldenModel } from "./golden-tokenizers.js";

export interface SplitRequest {
  readonly query: string;
  readonly documents: readonly string[];
  /** 0: whole documents. */
  readonly maxTokensPerDocument: number;
}

export interface SplitWindow {
  readonly inputIds: number[];
  /** bert only. */
  readonly tokenTypeIds?: number[];
  /** The committed ONNX file's score of this row. */
  readonly rawScore: number;
}

export interface SplitDocument {
  /** The document's rows: its one row when it fits, else one per window. */
  readonly windows: readonly SplitWindow[];
  /** max_tokens_per_document, or the query's cap or the pairing, dropped tokens. */
  readonly truncated: boolean;
  /** The best window's score. */
  readonly rawScore: number;
  readonly bestWindow: number;
  /** How far the best window is ahead of the next best (null: one window). */
  readonly bestWindowMargin: number | null;
}

export interface SplitGolden extends GoldenModel {
  /** Windows closer than this are a tie as far as the ONNX-vs-Triton noise goes. */
  readonly tieMargin: number;
  /** One per request of requests.json, in order. */
  readonly requests: readonly {
    /** bi-encoder only: the query's own row. */
    readonly queryInputIds?: number[];
    readonly queryTruncated?: boolean;
    readonly documents: readonly SplitDocument[];
  }[];
}

const directory = join(import.meta.dirname, "split-goldens");

export const splitRequests: readonly SplitRequest[] = JSON.parse(readFileSync(join(directory, "requests.json"), "utf8"));

export const splitGoldens: readonly SplitGolden[] = readdirSync(directory)
  .filter((file) => file.endsWith(".json") && file !== "requests.json")
  .sort()
  .map((file) => JSON.parse(readFileSync(join(directory, file), "utf8")) as SplitGolden);
