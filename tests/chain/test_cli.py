"""`kbqa ask` in a subprocess on a fresh home, and `kbqa eval --retrieval-only`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kbqa.cli import main
from kbqa.eval.dataset import read_predictions

pytestmark = pytest.mark.slow


def _kbqa_ask(question: str, home: Path) -> subprocess.CompletedProcess[str]:
    """`kbqa ask QUESTION` in a new process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "kbqa", "ask", question],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "KBQA_HOME": str(home), "PYTHONIOENCODING": "utf-8"},
        timeout=240,
    )


def test_kbqa_ask_on_a_fresh_home_builds_the_sample_kb(kbqa_home: Path, chain_home: Path, llm):
    # The converted model is shared with the session (converting the GGUF is the LLM's business,
    # not this test's); the knowledge base is not: "default" must be built on first use.
    assert llm is not None
    (kbqa_home / "cache").mkdir()
    os.symlink(chain_home / "cache" / "llm", kbqa_home / "cache" / "llm")
    result = _kbqa_ask("ChatGLM-6B 有多少参数？", kbqa_home)
    assert result.returncode == 0, result.stderr
    assert "sample knowledge base" in result.stderr  # first use announced
    assert (kbqa_home / "kb" / "default" / "store.sqlite").is_file()
    answer, _, sources = result.stdout.partition("来源：")
    assert "62" in answer
    assert "chatglm-6b.zh.md" in sources
    # Again, as every later use: the model now loads in a background thread while the embedder
    # loads in the main one, and both import transformers at once.
    again = _kbqa_ask("ChatGLM-6B 有多少参数？", kbqa_home)
    assert again.returncode == 0, again.stderr
    assert "sample knowledge base" not in again.stderr
    assert "62" in again.stdout.partition("来源：")[0]
    # A refusal answers before the model has loaded; the process must still exit cleanly (it
    # used to abort at shutdown under the loading thread, exit status 134).
    refusal = _kbqa_ask("火星上的天气如何？", kbqa_home)
    assert refusal.returncode == 0, refusal.stderr
    assert "没有找到" in refusal.stdout


def test_eval_retrieval_only_writes_valid_predictions(
    sample_kb, chain_home: Path, tmp_path: Path, capsys
):
    questions = tmp_path / "q.jsonl"
    rows = [
        {
            "id": "zh-1",
            "lang": "zh",
            "question": "BLOOM 的词表大小是多少？",
            "answers": ["250880"],
            "doc": "bloom.zh.md",
            "evidence": "BLOOM 的词表大小为 250880。",
        },
        {
            "id": "en-1",
            "lang": "en",
            "kind": "multi-turn",
            "question": "How many layers does it have?",
            "turns": ["Tell me about the LLaMA-7B model.", "How many layers does it have?"],
            "answers": ["32"],
            "doc": "llama.en.md",
            "evidence": "LLaMA-7B has 32 transformer layers.",
        },
        {
            "id": "en-2",
            "lang": "en",
            "kind": "unanswerable",
            "question": "How big is GPT-4?",
            "answers": [],
        },
    ]
    questions.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    out = tmp_path / "pred.jsonl"
    code = main(
        [
            "--home",
            str(chain_home),
            "eval",
            str(questions),
            "--kb",
            "default",
            "--retrieval-only",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    predictions = read_predictions(out)
    assert [p.id for p in predictions] == ["zh-1", "en-1", "en-2"]
    for prediction in predictions:
        assert prediction.answer == ""
        assert len(prediction.retrieved) >= 5
        assert all(c.source and c.score is not None for c in prediction.retrieved)
    table = capsys.readouterr().out
    assert "hit@1" in table and "hit@5" in table and "MRR" in table
    assert "zh " in table and "en " in table
    header = table.splitlines()[0].split()
    overall = next(line.split() for line in table.splitlines() if line.startswith("overall"))
    # The header has no cell for the row names: shift by one.
    assert overall[header.index("hit@5") + 1] == "1.000"
