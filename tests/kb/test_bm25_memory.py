"""The in-memory BM25 ranks exactly as FTS5's bm25() does, on the same token strings."""

from __future__ import annotations

import random
import sqlite3

import numpy as np
import pytest

from kbqa.store.bm25_memory import MemoryBM25, fts5_tokens
from kbqa.store.tokenize import tokenize

WORDS = [
    "port",
    "proxy",
    "timeout",
    "max_tokens",
    "café",
    "naïve",
    "配置",
    "代理",
    "端口",
    "参数",
    "默认",
    "选项",
    "文件",
    "目录",
    "option",
    "default",
    "value",
    "7b",
    "6b",
    "layers",
    "alibi",
    "bloom",
    "chatglm",
    "词表",
    "模型",
    "日志",
    "error_code",
    "退出码",
]


def _corpus(rng: random.Random, rows: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))) for _ in range(rows)]


def _fts5(texts: list[str]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5 (tokens)")
    db.executemany(
        "INSERT INTO f (rowid, tokens) VALUES (?, ?)",
        [(i * 3 + 1, " ".join(tokenize(t))) for i, t in enumerate(texts)],  # gaps in the ids
    )
    return db


def test_rankings_and_filters_equal_fts5s() -> None:
    rng = random.Random(7)
    texts = _corpus(rng, 400)
    db = _fts5(texts)
    memory = MemoryBM25(db.execute("SELECT rowid, tokens FROM f").fetchall())
    compared = phrases = 0
    for _ in range(150):
        tokens = list(dict.fromkeys(tokenize(" ".join(rng.sample(WORDS, rng.randint(1, 4))))))
        allowed = np.asarray(rng.sample(range(1, 1200), 300)) if rng.random() < 0.3 else None
        found = memory.search(tokens, 20, allowed)
        if found is None:  # a token FTS5 reads as a phrase: FTS5 answers those itself
            assert any(len(fts5_tokens(t)) > 1 for t in tokens)
            phrases += 1
            continue
        match = " OR ".join(f'"{t}"' for t in tokens)
        extra = f" AND rowid IN ({','.join(map(str, allowed))})" if allowed is not None else ""
        scored = db.execute(
            f"SELECT rowid, bm25(f) FROM f WHERE f MATCH ?{extra} ORDER BY bm25(f), rowid LIMIT 20",
            (match,),
        ).fetchall()
        assert [row for row, _ in found] == [row for row, _ in scored], tokens
        # the scores are FTS5's too (bm25() is negated there: lower is better)
        assert [score for _, score in found] == pytest.approx([-s for _, s in scored]), tokens
        assert all(score > 0 for _, score in found)
        compared += 1
    assert compared > 100 and phrases > 5  # both paths were taken


def test_folding_and_splitting_follow_unicode61() -> None:
    assert fts5_tokens("café naïve") == ["cafe", "naive"]
    assert fts5_tokens("max_tokens 7b") == ["max", "tokens", "7b"]
    assert fts5_tokens("配置 代理") == ["配置", "代理"]
    db = _fts5(["café au lait", "cafe noir", "tea"])
    memory = MemoryBM25(db.execute("SELECT rowid, tokens FROM f").fetchall())
    # folded on both sides, like FTS5
    assert sorted(row for row, _ in memory.search(["café"], 5)) == [1, 4]
    assert memory.search(["coffee"], 5) == []
