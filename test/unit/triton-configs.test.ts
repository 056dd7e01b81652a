/**
 * No Triton here loads the GPU model repository, so its configs are checked the way Triton would read them: as
 * protobuf text of inference.ModelConfig (the vendored proto), parsed by buf, strictly, then against the registry.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { expectedTensors } from "../../src/triton/model-check.js";
import { catalog } from "./fakes.js";

const ROOT = join(import.meta.dirname, "../..");
const GPU_DIR = join(ROOT, "triton-models/gpu");
const run = promisify(execFile);

/** buf's conversion of a text-format ModelConfig to `format` (json or txtpb); rejects with buf's message. */
async function convert(file: string, format: "json" | "txtpb"): Promise<string> {
  const { stdout } = await run(
    join(ROOT, "node_modules/.bin/buf"),
    [
      "convert",
      "proto/triton/model_config.proto",
      "--type",
      "inference.ModelConfig",
      "--from",
      `${file}#format=txtpb`,
      "--to",
      `-#format=${format}`,
    ],
    { cwd: ROOT },
  );
  return stdout;
}

/**
 * Every field of a protobuf text message by its path ("input.data_type"). buf's text parser drops fields it does
 * not know; comparing these paths with those of buf's own rendering finds them.
 */
function fieldPaths(text: string): Set<string> {
  const tokens = text.replace(/#.*$/gm, "").match(/"(?:[^"\\]|\\.)*"|[A-Za-z_][\w.]*|[{}[\]:]|[^\s{}[\]:"]+/g) ?? [];
  const open: { name: string; list: boolean }[] = [];
  const paths = new Set<string>();
  let field = "";
  tokens.forEach((token, index) => {
    const next = tokens[index + 1];
    if (/^[A-Za-z_]/.test(token) && (next === ":" || next === "{" || next === "[")) {
      field = token;
      paths.add([...open.filter((frame) => !frame.list).map((frame) => frame.name), token].join("."));
    } else if (token === "[") {
      open.push({ name: field, list: true });
    } else if (token === "{") {
      const list = open.at(-1);
      open.push({ name: list?.list ? list.name : field, list: false });
    } else if (token === "}" || token === "]") {
      open.pop();
    }
  });
  return paths;
}

/** Parses a config strictly: buf must accept it and keep every field it names. Returns buf's JSON of it. */
async function parseStrictly(file: string): Promise<Record<string, any>> {
  const [json, rendered] = await Promise.all([convert(file, "json"), convert(file, "txtpb")]);
  const known = fieldPaths(rendered);
  const unknown = [...fieldPaths(readFileSync(file, "utf8"))].filter((path) => !known.has(path));
  if (unknown.length > 0) throw new Error(`${file}: unknown fields ${unknown.join(", ")}`);
  return JSON.parse(json);
}

const gpuModels = [...catalog.models.values()].filter((spec) => spec.targets.includes("gpu"));
const configFile = (model: string) => join(GPU_DIR, model, "config.pbtxt");

/** A copy of a shipped config with one edit, in a temporary folder. */
function brokenCopy(edit: (text: string) => string): string {
  const text = readFileSync(configFile(gpuModels[0]!.triton.model), "utf8");
  const edited = edit(text);
  expect(edited).not.toBe(text);
  const file = join(mkdtempSync(join(tmpdir(), "pbtxt-")), "config.pbtxt");
  writeFileSync(file, edited);
  return file;
}

describe("GPU Triton configs", { timeout: 60_000 }, () => {
  it("has one config per GPU model of the registry, and no other", () => {
    expect(readdirSync(GPU_DIR).sort()).toEqual(gpuModels.map((spec) => spec.triton.model).sort());
  });

  it.each(gpuModels.map((spec) => [spec.name, spec] as const))(
    "%s parses as inference.ModelConfig and matches the registry",
    async (_, spec) => {
      const config = await parseStrictly(configFile(spec.triton.model));
      const { inputs, outputs } = expectedTensors(spec);
      expect(config).toMatchObject({
        name: spec.triton.model,
        backend: "onnxruntime",
        maxBatchSize: spec.triton.maxBatchSize,
        dynamicBatching: { maxQueueDelayMicroseconds: String(spec.triton.maxQueueDelayMicroseconds) },
      });
      // Config dims leave out the batch dimension that ModelMetadata reports; int64 fields come back as strings.
      const tensor = (dataType: string) => (expected: (typeof inputs)[number]) => ({
        name: expected.name,
        dataType,
        dims: expected.shape.slice(1).map(String),
      });
      expect(config.input).toEqual(inputs.map(tensor("TYPE_INT64")));
      expect(config.output).toEqual(outputs.map(tensor("TYPE_FP32")));
      expect(config.instanceGroup.map((group: { kind: string }) => group.kind)).toEqual(["KIND_GPU"]);
    },
  );

  it.each([
    ["an unknown top-level field", ["max_batch_size:", "max_batch_sizes:"], /unknown fields max_batch_sizes$/],
    [
      "an unknown nested field",
      ["max_queue_delay_microseconds:", "max_queue_delay_ms:"],
      /unknown fields dynamic_batching\.max_queue_delay_ms$/,
    ],
    [
      "a field in the wrong message",
      ["    count: 1", "    count: 1\n    max_batch_size: 4"],
      /unknown fields instance_group\.max_batch_size$/,
    ],
    ["an unknown enum value", ["TYPE_INT64", "TYPE_INT65"], /invalid value for enum type: TYPE_INT65/],
    ["a value of the wrong type", [/max_batch_size: \d+/, 'max_batch_size: "many"'], /invalid value for int32 type: "many"/],
    ["an unclosed message", [/}\s*$/, ""], /unexpected EOF/],
  ] as [string, [string | RegExp, string], RegExp][])("rejects a copy with %s", async (_, [from, to], message) => {
    await expect(parseStrictly(brokenCopy((text) => text.replace(from, to)))).rejects.toThrow(message);
  });
});
