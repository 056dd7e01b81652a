"""What a reference library feeds its model: the ids of each call, caught at the HF model's forward."""

import functools
from collections.abc import Callable

import torch


class StopBeforeModel(Exception):
    """Raised in place of running the model once its inputs are recorded. Not a RuntimeError: FlagEmbedding
    retries a forward that raises one with a smaller batch."""


class InputCapture:
    """Wraps the HF model's forward (an instance attribute, so calls through __call__ and direct .forward calls
    such as sentence-transformers' both pass through it): the inputs of every call. With run_model=False the
    model does not run: the call raises StopBeforeModel once its inputs are recorded."""

    def __init__(self, module: torch.nn.Module, run_model: bool = True):
        self.calls: list[dict[str, torch.Tensor]] = []
        self.module = module
        original = module.forward

        @functools.wraps(original)
        def forward(*args, **kwargs):
            names = ("input_ids", "attention_mask", "token_type_ids")
            inputs = {name: kwargs[name] for name in names if kwargs.get(name) is not None}
            for name, value in zip(names, args, strict=False):  # positional inputs, fewer than the names
                inputs.setdefault(name, value)
            self.calls.append({name: value.detach().cpu().clone() for name, value in inputs.items()})
            if not run_model:
                raise StopBeforeModel
            return original(*args, **kwargs)

        module.forward = forward

    def last_rows(self) -> list[dict[str, list[int]]]:
        call = self.calls[-1]
        mask = call["attention_mask"].numpy()
        rows = []
        for index in range(mask.shape[0]):
            kept = mask[index] == 1
            rows.append(
                {name: value[index].numpy()[kept].tolist() for name, value in call.items() if name != "attention_mask"}
            )
        return rows

    def close(self) -> None:
        del self.module.forward  # back to the class's forward


def single_pair_rows(
    model: torch.nn.Module, pairs: list[tuple[str, str]], run_one: Callable, run_model: bool = True
) -> list[dict]:
    """Runs the reference on each pair alone and returns the one row it fed the model each time. With
    run_model=False the model never runs (the reference stops at its first forward): for inputs too long for it."""
    capture = InputCapture(model, run_model)
    rows = []
    try:
        for pair in pairs:
            capture.calls.clear()
            try:
                run_one(pair)
            except StopBeforeModel:
                if run_model:
                    raise
            (row,) = capture.last_rows()
            rows.append(row)
    finally:
        capture.close()
    return rows


def fed_lengths(model: torch.nn.Module, pairs: list[tuple[str, str]], run_one: Callable) -> list[int]:
    """The number of ids the reference feeds its model for each pair alone, without running the model. Called on
    a reference set to an unlimited max length, this is the pair's length before any truncation: the reference
    dropped tokens where its row at the real max length is shorter."""
    return [len(row["input_ids"]) for row in single_pair_rows(model, pairs, run_one, run_model=False)]
