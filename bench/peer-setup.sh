#!/usr/bin/env bash
# One-time setup of `npm run bench:peer` (opt-in, dev machines only, never CI), everything under .run/peer/:
#  - venv/: infinity-emb 0.0.78 with its optimum (ONNX) engine and server, from PyPI. torch comes from the
#    fixture environment .venv-dev (test/fixtures-build/requirements-dev.txt) by symbolic links, not a second
#    multi-GB download; the venv's own transformers 4 / numpy 1 stay separate from .venv-dev's.
#  - the model: bench/peer_model.py (run with .venv-dev's python) builds and exports it.
set -euo pipefail
cd "$(dirname "$0")/.."
readonly PEER=.run/peer
readonly DEV_SITE=.venv-dev/lib/python3.11/site-packages
[[ -x .venv-dev/bin/python ]] || { echo "peer-setup: needs .venv-dev (pip install -r test/fixtures-build/requirements-dev.txt)" >&2; exit 1; }
mkdir -p "$PEER"
if [[ ! -x "$PEER/venv/bin/python" ]]; then python3.11 -m venv "$PEER/venv"; fi
site="$("$PEER/venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
for entry in "$DEV_SITE"/*; do
  case "$(basename "$entry")" in
    torch* | functorch | torchgen | nvidia* | cuda* | triton* | sympy* | mpmath* | networkx* | jinja2* | markupsafe* | filelock* | fsspec* | typing_extensions*)
      [[ -e "$site/$(basename "$entry")" ]] || ln -s "$PWD/$entry" "$site/$(basename "$entry")" ;;
  esac
done
"$PEER/venv/bin/pip" install --quiet "infinity-emb[server,optimum]==0.0.78" "sentence-transformers>=3,<5.2" httpx
.venv-dev/bin/python bench/peer_model.py
echo "peer-setup: done; run: npm run bench:peer"
