#!/usr/bin/env bash
# Install everything the tests need, then run them. This is the README's test command and what
# .ci/run calls. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export KBQA_HOME="${KBQA_HOME:-$(mktemp -d)}"
# One folder for the converted default model, shared by every test's home and server (each
# conversion takes about 30 s; kbqa/llm/gguf.py cache_root).
export KBQA_MODEL_CACHE="${KBQA_MODEL_CACHE:-$(mktemp -d)}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
