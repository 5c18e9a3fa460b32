#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install
# sparse2dense with its dev extra into it. Idempotent: a stamp records the hash
# of pyproject.toml, and nothing is reinstalled while it is unchanged.
#
# Torch: without an NVIDIA GPU the CPU build is installed first (pinned, so
# that trl/accelerate do not pull a multi-GB CUDA build). With a GPU, bring
# your own CUDA torch (see README) or set S2D_TORCH_SPEC.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
stamp="$VENV/.s2d-installed"
want=$(sha256sum pyproject.toml | cut -c1-16)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/s2d" ]; then
    exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# Local package mirrors list directories pip cannot read; their warnings are noise.
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        spec=${S2D_TORCH_SPEC:-torch}
    else
        # The CPU build; on a machine whose pip sees only PyPI, point
        # S2D_TORCH_INDEX at the PyTorch CPU index.
        spec=${S2D_TORCH_SPEC:-torch==2.13.0}
    fi
    if [ -n "${S2D_TORCH_INDEX:-}" ]; then
        quiet "${pip[@]}" install "$spec" --index-url "$S2D_TORCH_INDEX"
    else
        quiet "${pip[@]}" install "$spec"
    fi
fi

quiet "${pip[@]}" install -e ".[dev]"
echo "$want" > "$stamp"
