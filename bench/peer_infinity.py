"""Starts Infinity (PyPI infinity-emb 0.0.78) for `npm run bench:peer`, with one shim: its optimum engine hands
optimum 2 the ONNX file's absolute path, which optimum 2 only accepts relative to the model folder
("Could not find any ONNX files with target file name ..."), so the file is passed by its name.
Usage: .run/peer/venv/bin/python bench/peer_infinity.py v2 --model-id DIR --engine optimum ...
"""

import pathlib
import sys

import infinity_emb.transformer.crossencoder.optimum as cross_encoder

find_onnx_file = cross_encoder.get_onnx_files
cross_encoder.get_onnx_files = lambda **arguments: pathlib.Path(find_onnx_file(**arguments).name)

from infinity_emb.cli import cli  # noqa: E402 (after the shim)

if __name__ == "__main__":
    sys.exit(cli())
