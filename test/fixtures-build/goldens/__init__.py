"""The score-parity goldens test/parity/goldens/<model>.json, written by test/fixtures-build/make_goldens.py (see
its docstring for what a golden records and how to run it). One job per module:

  paths.py       where the inputs (checkpoints, ONNX files, test data) and the goldens are
  pairs.py       the (query, document) requests every golden scores
  shims.py       what transformers 5 removed and the reference libraries still call
  capture.py     the ids a reference library feeds its model, caught at the model's forward
  references.py  each family's reference library run on a checkpoint: ids, raw and normalized scores, settings
  models.py      the golden models: name, family, the gateway's tokenizer, reference, padding
  writing.py     a golden file: the reference's output, the committed ONNX file's scores on the same ids, checks
  split.py       long_documents=split_max's reference (make_split_goldens.py): windows, paired and scored

Nothing here encodes pairs the way the gateway does: every id in a golden is what the reference library fed its
model. The gateway's own ids are compared with them by the TypeScript parity tests (test/parity/).
"""
