"""Test-only Triton Python-backend model: the shipped onnx_reranker model, plus faults injected at run time.

The integration tests' Triton serves the test model repository that test/triton/build-model-repository.sh builds
under .run/: for every model of triton-models/cpu, config.pbtxt and the weights are symlinks to the product's, and
<model>/1/model.py is a symlink to this file. The product's repository (triton-models/cpu) never serves it, so
the shipped model (triton-models/python/onnx_reranker.py) has no fault code at all.

Faults make a model slow or failing on demand, for tests of the gateway's circuit breakers and fallback against
the real Triton (a breaker only opens on real slow or failed ModelInfer calls). They are driven by
RERANK_FAULT_INJECTION_DIR, an absolute path set in tritonserver's environment (the python stub inherits it).
Without it this model is exactly the shipped one. With it, every execute() reads
``$RERANK_FAULT_INJECTION_DIR/<model name>.json`` once, if it exists:
    {"delay_ms": number >= 0, "failure_rate": number in [0, 1]}      (each optional, default 0)
and sleeps delay_ms before scoring, then fails each request that is not cancelled with probability failure_rate
(error "injected failure"); the other requests are scored by the shipped model as usual. No file means no fault.
A file that cannot be read as faults fails every request of the batch with a message naming it. Changes apply
from the next execute(); write the file atomically (a temporary file renamed over it, as test/support/faults.ts
does) so a batch never reads half of it.

While it sleeps, the model polls each request's ``is_cancelled()`` (python_backend README, "Request Cancellation
Handling") every CANCELLATION_POLL_S, so tests can see from Triton's side that a client's cancel or deadline
reached the model: each request it sees cancelled appends one line ``{"after_ms": <ms into the delay>}`` to
``$RERANK_FAULT_INJECTION_DIR/<model name>.cancelled`` (one write() to a file opened O_APPEND: whole lines, even
with several model instances appending). Once every request of the batch is cancelled the delay ends early: the
shipped model then answers them CANCELLED.
"""

import json
import math
import os
import random
import sys
import time

# The python backend imports <model>/1/model.py, a symlink to this file: the shipped model is found from this
# file's real location (test/triton/ -> triton-models/python/), wherever the test repository was built.
SHIPPED_MODEL_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "triton-models", "python")
sys.path.insert(0, os.path.normpath(SHIPPED_MODEL_DIR))

import onnx_reranker  # noqa: E402  (needs the path above)
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel(onnx_reranker.TritonPythonModel):
    def initialize(self, args):
        super().initialize(args)
        self.fault_injection = FaultInjection.from_environment(args["model_name"])

    def execute(self, requests):
        if self.fault_injection is None:
            return super().execute(requests)
        try:
            failure_rate = self.fault_injection.delay_then_failure_rate(requests)
        except InvalidFaultControl as error:
            return [onnx_reranker.error_response(str(error)) for _ in requests]
        if not failure_rate:
            return super().execute(requests)
        responses = [None] * len(requests)
        scored = []
        for index, request in enumerate(requests):
            # A cancelled request draws nothing: the shipped model answers it CANCELLED.
            if not request.is_cancelled() and random.random() < failure_rate:
                responses[index] = onnx_reranker.error_response("injected failure")
            else:
                scored.append(index)
        if scored:
            for index, response in zip(scored, super().execute([requests[index] for index in scored]), strict=True):
                responses[index] = response
        return responses


class InvalidFaultControl(Exception):
    """A control file that cannot be read as faults; every request of the batch fails with this message."""


class FaultInjection:
    """The control file of one model (see the module docstring)."""

    CONTROL_KEYS = ("delay_ms", "failure_rate")
    CANCELLATION_POLL_S = 0.02

    def __init__(self, control_file, cancellation_file):
        self.control_file = control_file
        self.cancellation_file = cancellation_file

    @classmethod
    def from_environment(cls, model_name):
        directory = os.environ.get("RERANK_FAULT_INJECTION_DIR")
        if not directory:
            return None
        control_file = os.path.join(directory, f"{model_name}.json")
        pb_utils.Logger.log_warn(f"fault_injecting_reranker: fault injection enabled, control file {control_file}")
        return cls(control_file, os.path.join(directory, f"{model_name}.cancelled"))

    def delay_then_failure_rate(self, requests):
        """Sleeps the control file's delay (watching `requests` for cancellation) and returns its failure rate;
        0 without a file."""
        try:
            with open(self.control_file, encoding="utf-8") as file:
                faults = json.load(file)
        except FileNotFoundError:
            return 0.0
        except (OSError, ValueError) as error:
            raise InvalidFaultControl(f"fault injection: cannot read {self.control_file}: {error}") from error
        if not isinstance(faults, dict) or not set(faults) <= set(self.CONTROL_KEYS):
            raise InvalidFaultControl(
                f"fault injection: {self.control_file} must be an object with keys among {self.CONTROL_KEYS}"
            )
        delay_ms = self._number(faults, "delay_ms", math.inf)
        failure_rate = self._number(faults, "failure_rate", 1)
        if delay_ms:
            self._delay(delay_ms, requests)
        return failure_rate

    def _delay(self, delay_ms, requests):
        """Sleeps delay_ms, recording each request seen cancelled; ends early once all of them are."""
        started = time.monotonic()
        end = started + delay_ms / 1000
        seen_cancelled = set()
        while True:
            for index, request in enumerate(requests):
                if index not in seen_cancelled and request.is_cancelled():
                    seen_cancelled.add(index)
                    self._record_cancellation((time.monotonic() - started) * 1000)
            remaining = end - time.monotonic()
            if remaining <= 0 or len(seen_cancelled) == len(requests):
                return
            time.sleep(min(self.CANCELLATION_POLL_S, remaining))

    def _record_cancellation(self, after_ms):
        line = json.dumps({"after_ms": round(after_ms, 1)}) + "\n"
        descriptor = os.open(self.cancellation_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)

    def _number(self, faults, key, maximum):
        value = faults.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= maximum:
            raise InvalidFaultControl(f"fault injection: {self.control_file}: {key} must be a number in [0, {maximum}]")
        return value
