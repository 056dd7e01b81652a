import { familyOf, type ModelSpec, type Target } from "../catalog/registry.js";
import { expectedTensors } from "./model-check.js";

const TRITON_DTYPE = { INT64: "TYPE_INT64", FP32: "TYPE_FP32" } as const;

function tensorBlock(kind: "input" | "output", tensors: ReturnType<typeof expectedTensors>["inputs"], ragged = false): string {
  const entries = tensors.map(
    (tensor) =>
      `  {\n    name: "${tensor.name}"\n    data_type: ${TRITON_DTYPE[tensor.datatype as keyof typeof TRITON_DTYPE]}\n` +
      // ModelMetadata reports the batch dimension; config dims leave it out.
      `    dims: [ ${tensor.shape.slice(1).join(", ")} ]\n` +
      (ragged ? "    allow_ragged_batch: true\n" : "") +
      "  }",
  );
  return `${kind} [\n${entries.join(",\n")}\n]`;
}

function dynamicBatching(spec: ModelSpec): string {
  // No default_queue_policy: with one, Triton 2.51's dynamic batcher held queued requests for 0.5-1 s while
  // the model sat idle (measured: 4 concurrent requests, p50 27 ms without a policy, 520 ms with one).
  return ["dynamic_batching {", `  max_queue_delay_microseconds: ${spec.triton.maxQueueDelayMicroseconds}`, "}"].join("\n");
}

function parameters(values: Record<string, string>): string {
  const entries = Object.entries(values).map(
    ([key, value]) => `  {\n    key: "${key}"\n    value: { string_value: "${value}" }\n  }`,
  );
  return `parameters [\n${entries.join(",\n")}\n]`;
}

/** The profile ranges: short rows, up to 512 tokens, and the rest of the ladder. */
const PROFILE_TOPS = [128, 512];

/**
 * TensorRT optimization profiles covering the model's length buckets, one per range of them, each tuned (opt) for a
 * full batch at the range's longest bucket. The gateway only ever sends bucket lengths, so these shapes are all
 * TensorRT sees; onnxruntime's TensorRT provider takes several profiles as repeated input names.
 */
function tensorrtProfiles(spec: ModelSpec): Record<"min" | "opt" | "max", string> {
  const buckets = spec.triton.lengthBuckets;
  const last = buckets.at(-1)!;
  const tops = [...PROFILE_TOPS.filter((top) => top < last), last];
  const names = expectedTensors(spec).inputs.map((tensor) => tensor.name);
  const shapes = (rows: number, length: number) => names.map((name) => `${name}:${rows}x${length}`);
  const ranges = tops.map((top, index) => ({ from: (tops[index - 1] ?? 0) + 1, top }));
  return {
    min: ranges.flatMap(({ from }) => shapes(1, from)).join(","),
    opt: ranges.flatMap(({ top }) => shapes(spec.triton.maxBatchSize, top)).join(","),
    max: ranges.flatMap(({ top }) => shapes(spec.triton.maxBatchSize, top)).join(","),
  };
}

/** GPU production: Triton's onnxruntime backend with the TensorRT execution accelerator (FP16, engine cache). */
function gpuSections(spec: ModelSpec): string[] {
  const profiles = tensorrtProfiles(spec);
  return [
    'backend: "onnxruntime"',
    "instance_group [\n  {\n    kind: KIND_GPU\n    count: 1\n  }\n]",
    [
      "optimization {",
      "  execution_accelerators {",
      "    gpu_execution_accelerator: [",
      "      {",
      '        name: "tensorrt"',
      '        parameters { key: "precision_mode" value: "FP16" }',
      '        parameters { key: "max_workspace_size_bytes" value: "4294967296" }',
      '        parameters { key: "trt_engine_cache_enable" value: "1" }',
      '        parameters { key: "trt_engine_cache_path" value: "/tmp/triton-trt-cache" }',
      `        parameters { key: "trt_profile_min_shapes" value: "${profiles.min}" }`,
      `        parameters { key: "trt_profile_opt_shapes" value: "${profiles.opt}" }`,
      `        parameters { key: "trt_profile_max_shapes" value: "${profiles.max}" }`,
      "      }",
      "    ]",
      "  }",
      "}",
    ].join("\n"),
  ];
}

/** CPU (tests, laptops): the same ONNX file run by onnxruntime inside the project's Python-backend model. */
function cpuSections(spec: ModelSpec): string[] {
  return [
    'backend: "python"',
    "instance_group [\n  {\n    kind: KIND_CPU\n    count: 1\n  }\n]",
    parameters({ padding_side: familyOf(spec).paddingSide, pad_token_id: String(spec.padTokenId) }),
  ];
}

/**
 * Renders a model's config.pbtxt for one target; the committed files under triton-models/<target>/ are this output.
 * `raggedBatching` (default: on for CPU) lets the dynamic batcher merge requests of different lengths, which the
 * Python model pads to one length; the onnxruntime backend (GPU) cannot take ragged inputs, so there it relies on the
 * gateway's length buckets. Tests render CPU configs without it to batch like the GPU ones.
 */
export function renderModelConfig(
  spec: ModelSpec,
  target: Target,
  { raggedBatching = target === "cpu" }: { raggedBatching?: boolean } = {},
): string {
  const tensors = expectedTensors(spec);
  const [backend, ...rest] = target === "gpu" ? gpuSections(spec) : cpuSections(spec);
  return (
    [
      `# Generated from src/catalog/registry.json (model "${spec.name}") by \`npm run triton:configs\`; do not edit.`,
      `name: "${spec.triton.model}"`,
      backend,
      `max_batch_size: ${spec.triton.maxBatchSize}`,
      tensorBlock("input", tensors.inputs, raggedBatching),
      tensorBlock("output", tensors.outputs),
      dynamicBatching(spec),
      ...rest,
    ].join("\n") + "\n"
  );
}
