import type { ModelMetadataResponse } from "../gen/triton/grpc_service.js";
import type { ModelConfig } from "../gen/triton/model_config.js";
import type { ModelSpec } from "../catalog/registry.js";

interface ExpectedTensor {
  name: string;
  datatype: string;
  shape: number[];
}

const describe = (tensor: ExpectedTensor) => `${tensor.name} ${tensor.datatype} [${tensor.shape.join(", ")}]`;

/** The tensors the registry says the model has, in the form Triton's ModelMetadata reports them (batch dim -1). */
export function expectedTensors(spec: ModelSpec): { inputs: ExpectedTensor[]; outputs: ExpectedTensor[] } {
  const { inputIds, attentionMask, tokenTypeIds } = spec.triton.inputs;
  const inputNames = tokenTypeIds ? [inputIds, attentionMask, tokenTypeIds] : [inputIds, attentionMask];
  return {
    inputs: inputNames.map((name) => ({ name, datatype: "INT64", shape: [-1, -1] })),
    outputs: [{ name: spec.triton.output, datatype: "FP32", shape: [-1, spec.triton.outputWidth ?? 1] }],
  };
}

/**
 * Compares what Triton serves with what the registry declares. Returns one line per mismatch, each naming
 * both sides, so that a wrong deployment stops start-up with a message an operator can act on.
 */
export function findMismatches(spec: ModelSpec, metadata: ModelMetadataResponse, config: ModelConfig): string[] {
  const problems: string[] = [];
  const expected = expectedTensors(spec);
  const side = (kind: "input" | "output", wanted: ExpectedTensor[], served: ModelMetadataResponse["inputs"]) => {
    for (const tensor of wanted) {
      const found = served.find((candidate) => candidate.name === tensor.name);
      const foundShape = found?.shape.map(Number) ?? [];
      if (!found) {
        problems.push(
          `${kind} ${tensor.name}: registry declares ${describe(tensor)}, Triton serves ${served.map((s) => s.name).join(", ") || "none"}`,
        );
      } else if (found.datatype !== tensor.datatype || foundShape.join() !== tensor.shape.join()) {
        problems.push(
          `${kind} ${tensor.name}: registry declares ${describe(tensor)}, Triton serves ${describe({ ...found, shape: foundShape })}`,
        );
      }
    }
    for (const extra of served.filter((candidate) => !wanted.some((tensor) => tensor.name === candidate.name))) {
      if (kind === "input") problems.push(`input ${extra.name}: Triton requires it, the registry does not declare it`);
    }
  };
  side("input", expected.inputs, metadata.inputs);
  side("output", expected.outputs, metadata.outputs);
  if (config.maxBatchSize !== spec.triton.maxBatchSize) {
    problems.push(`max_batch_size: registry declares ${spec.triton.maxBatchSize}, Triton serves ${config.maxBatchSize}`);
  }
  return problems.map((problem) => `model ${spec.name} (Triton model ${spec.triton.model}): ${problem}`);
}
