#!/usr/bin/env bash
# Install everything the tests need, then run them. This is the README's test command and what
# .ci/run calls. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export KBQA_HOME="${KBQA_HOME:-$(mktemp -d)}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
