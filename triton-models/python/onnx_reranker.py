"""Generic Triton Python-backend model: an ONNX sequence-classification cross-encoder run by onnxruntime on CPU.

Every CPU model of the repository uses this file as its ``<model>/1/model.py`` (a relative symlink); the model's
config.pbtxt says which ONNX file to open and how to pad. Behaviour relied on, from the python_backend README
(github.com/triton-inference-server/python_backend, README.md):
  * "initialize": ``args`` holds ``model_config`` (a JSON string), ``model_repository`` (the model's directory) and
    ``model_version``.
  * "Adding Custom Parameters in the Model Configuration": config ``parameters`` arrive in that JSON as
    ``{"key": {"string_value": "..."}}``.
  * "execute" / "Default Mode": ``execute`` gets a list of requests (the dynamic batcher's batch; the Python backend
    does not concatenate their tensors) and must return exactly one response per request, in the same order.
  * "Error Handling": a response built with ``error=pb_utils.TritonError(message, code)`` fails only that request.
  * "Request Cancellation Handling": ``request.is_cancelled()`` (23.10+).
  * "Logging": ``pb_utils.Logger``.
Requests of different sequence lengths reach one ``execute`` call only when the config's inputs set
``allow_ragged_batch: true`` (otherwise the dynamic batcher only groups requests of equal shape).

Model config parameters (all optional, string values):
  onnx_file              ONNX file in the version directory (default "model.onnx")
  padding_side           "right" (encoders, default) or "left" (decoders)
  pad_token_id           token id written into padded input_ids positions (default 0)
  intra_op_threads       onnxruntime intra-op threads; 0 lets onnxruntime decide (default 0)
  input_ids_tensor, attention_mask_tensor, token_type_ids_tensor
                         name of the config input carrying that ONNX input (default: the same name)
"""

import json
import os

import numpy as np
import onnxruntime
import triton_python_backend_utils as pb_utils

# The ONNX inputs a cross-encoder export may have (export/export_onnx.py); padding writes pad_token_id into
# input_ids and 0 into the others.
INPUT_ROLES = ("input_ids", "attention_mask", "token_type_ids")
REQUIRED_INPUT_ROLES = ("input_ids", "attention_mask")
PADDING_SIDES = ("left", "right")


class InvalidRequest(Exception):
    """A request whose tensors cannot be scored; it gets an INVALID_ARG response, the others go on."""


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.padding_side = parameters.get("padding_side", "right")
        if self.padding_side not in PADDING_SIDES:
            raise pb_utils.TritonModelException(f"padding_side must be one of {PADDING_SIDES}: {self.padding_side!r}")
        pad_token_id = int(parameters.get("pad_token_id", "0"))
        onnx_file = parameters.get("onnx_file", "model.onnx")
        onnx_path = os.path.join(args["model_repository"], args["model_version"], onnx_file)
        session_options = onnxruntime.SessionOptions()
        session_options.intra_op_num_threads = int(parameters.get("intra_op_threads", "0"))
        self.session = onnxruntime.InferenceSession(
            onnx_path, sess_options=session_options, providers=["CPUExecutionProvider"]
        )
        self.tensor_by_onnx_input = self._map_inputs(config, parameters, onnx_path)
        self.pad_value_by_onnx_input = {
            onnx_input: pad_token_id if onnx_input == "input_ids" else 0 for onnx_input in self.tensor_by_onnx_input
        }
        (onnx_output,) = self.session.get_outputs()
        if onnx_output.type != "tensor(float)":
            raise pb_utils.TritonModelException(
                f"{onnx_path}: output {onnx_output.name} is {onnx_output.type}, not float"
            )
        (config_output,) = config["output"]
        self.onnx_output_name = onnx_output.name
        self.output_name = config_output["name"]
        pb_utils.Logger.log_info(
            f"onnx_reranker: {onnx_path} inputs={self.tensor_by_onnx_input} output={self.onnx_output_name}->"
            f"{self.output_name} padding_side={self.padding_side} pad_token_id={pad_token_id} "
            f"intra_op_threads={session_options.intra_op_num_threads}"
        )

    def _map_inputs(self, config, parameters, onnx_path):
        """ONNX input -> config tensor name. Every ONNX input must be fed; a config input the graph does not take
        (token_type_ids of a model without token types) is accepted and ignored, so one request shape fits all."""
        config_input_names = {tensor["name"] for tensor in config["input"]}
        tensor_by_role = {role: parameters.get(f"{role}_tensor", role) for role in INPUT_ROLES}
        unknown_inputs = config_input_names - set(tensor_by_role.values())
        if unknown_inputs:
            raise pb_utils.TritonModelException(f"config inputs {sorted(unknown_inputs)} map to no ONNX input role")
        for role in REQUIRED_INPUT_ROLES:
            if tensor_by_role[role] not in config_input_names:
                raise pb_utils.TritonModelException(f"config lacks the {role} input ({tensor_by_role[role]!r})")
        tensor_by_onnx_input = {}
        for onnx_input in sorted(onnx_input.name for onnx_input in self.session.get_inputs()):
            if tensor_by_role.get(onnx_input) not in config_input_names:
                raise pb_utils.TritonModelException(f"{onnx_path} needs {onnx_input}, which no config input carries")
            tensor_by_onnx_input[onnx_input] = tensor_by_role[onnx_input]
        return tensor_by_onnx_input

    def execute(self, requests):
        responses = [None] * len(requests)
        inputs_by_request = {}
        for index, request in enumerate(requests):
            if request.is_cancelled():
                responses[index] = error_response("request cancelled", pb_utils.TritonError.CANCELLED)
                continue
            try:
                inputs_by_request[index] = self._read_inputs(request)
            except InvalidRequest as error:
                responses[index] = error_response(str(error), pb_utils.TritonError.INVALID_ARG)
        if inputs_by_request:
            pb_utils.Logger.log_verbose(
                "onnx_reranker: merging requests of shapes "
                + str([inputs["input_ids"].shape for inputs in inputs_by_request.values()])
            )
            for index, response in self._score_together(inputs_by_request).items():
                responses[index] = response
        return responses

    def finalize(self):
        self.session = None

    def _read_inputs(self, request):
        """The request's ONNX inputs, all int64 [rows, seq_len] of one shape."""
        inputs = {}
        for onnx_input, tensor_name in self.tensor_by_onnx_input.items():
            tensor = pb_utils.get_input_tensor_by_name(request, tensor_name)
            if tensor is None:
                raise InvalidRequest(f"missing input {tensor_name}")
            inputs[onnx_input] = tensor.as_numpy()
        shapes = {array.shape for array in inputs.values()}
        if len(shapes) != 1:
            raise InvalidRequest(f"inputs must share one shape, got {sorted(shapes)}")
        (shape,) = shapes
        if len(shape) != 2 or 0 in shape:
            raise InvalidRequest(f"inputs must be non-empty [rows, seq_len], got {list(shape)}")
        return inputs

    def _score_together(self, inputs_by_request):
        """One session run for all requests; if it fails, each request runs alone so only the faulty ones fail
        (e.g. a token id outside the vocabulary makes onnxruntime reject the whole merged batch)."""
        try:
            return dict(zip(inputs_by_request, self._score(list(inputs_by_request.values())), strict=True))
        except Exception as error:  # onnxruntime raises several exception types for bad input values
            if len(inputs_by_request) == 1:
                return {index: inference_failed_response(error) for index in inputs_by_request}
            pb_utils.Logger.log_warn(
                f"onnx_reranker: a merged run of {len(inputs_by_request)} requests failed, scoring each alone: {error}"
            )
        return {index: self._score_alone(inputs) for index, inputs in inputs_by_request.items()}

    def _score_alone(self, inputs):
        try:
            (response,) = self._score([inputs])
            return response
        except Exception as error:
            return inference_failed_response(error)

    def _score(self, batches):
        """Pads every request's inputs to the longest sequence on the configured side, concatenates them along the
        batch axis, runs once and splits the [total_rows, 1] output back into one response per request."""
        seq_len = max(inputs["input_ids"].shape[1] for inputs in batches)
        feeds = {
            onnx_input: np.concatenate([self._pad(inputs[onnx_input], seq_len, pad_value) for inputs in batches])
            for onnx_input, pad_value in self.pad_value_by_onnx_input.items()
        }
        (scores,) = self.session.run([self.onnx_output_name], feeds)
        row_counts = [inputs["input_ids"].shape[0] for inputs in batches]
        return [
            pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output_name, request_scores)])
            for request_scores in np.split(scores, np.cumsum(row_counts)[:-1])
        ]

    def _pad(self, array, seq_len, pad_value):
        missing = seq_len - array.shape[1]
        if missing == 0:
            return array
        pad_columns = (missing, 0) if self.padding_side == "left" else (0, missing)
        return np.pad(array, ((0, 0), pad_columns), constant_values=pad_value)


def error_response(message, code=None):
    # pb_utils.TritonError is attached by the stub after this module is imported: resolve the default lazily.
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(message, pb_utils.TritonError.INTERNAL if code is None else code)
    )


def inference_failed_response(error):
    return error_response(f"inference failed: {type(error).__name__}: {error}")
