"""Fit and check the relevance score (kbqa/chain/calibration.py) on eval/real.

Fits a logistic model on `tune` (fact questions, top 30 hybrid hits each; label: the hit holds
the question's evidence) over the features `calibration.add_relevance` uses, prints the weights,
then reports on `test` only: AUC, Brier score and a reliability table (predicted against observed
share of hits that hold the answer).

    KBQA_HOME=/tmp/realhome kbqa ingest eval/real/docs --kb real
    KBQA_HOME=/tmp/realhome python eval/real/calibrate.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kbqa.chain.calibration import CALIBRATED, features
from kbqa.eval.dataset import Prediction, read_questions
from kbqa.eval.metrics import chunk_hits, has_retrieval_truth
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import Settings

HERE = Path(__file__).parent


def pairs(kb, split):
    rows, labels = [], []
    for question in read_questions(HERE / f"{split}.jsonl"):
        if question.kind != "fact" or not has_retrieval_truth(question):
            continue
        hits = kb.search(question.question, k=30, mode="hybrid")
        retrieved = Prediction.from_hits(question.id, hits).retrieved
        rows += features(question.question, hits)
        labels += [float(chunk_hits(question, chunk)) for chunk in retrieved]
    return np.array(rows), np.array(labels)


def fit(x, y, l2=1e-2):
    w = np.zeros(x.shape[1])
    for _ in range(50):  # Newton's method on the L2-regularised log-likelihood
        p = 1 / (1 + np.exp(-x @ w))
        gradient = x.T @ (p - y) + l2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(x.shape[1])
        w -= np.linalg.solve(hessian, gradient)
    return w


def auc(scores, y):
    positive, negative = scores[y == 1], scores[y == 0]
    return float(np.mean([(p > negative).mean() + 0.5 * (p == negative).mean() for p in positive]))


def main() -> None:
    kb = KnowledgeBase.open("real", Settings.load())
    x, y = pairs(kb, "tune")
    w = fit(x, y)
    print(
        f"tune: {len(y)} pairs, {int(y.sum())} hold the answer; weights {np.round(w, 3).tolist()}"
    )
    shipped = CALIBRATED.get((kb.embedder.name, "hybrid"))
    print(f"shipped weights for {kb.embedder.name}: {shipped}")
    xt, yt = pairs(kb, "test")
    p = 1 / (1 + np.exp(-xt @ np.array(shipped or w)))
    print(f"test: {len(yt)} pairs; AUC {auc(p, yt):.3f}; Brier {np.mean((p - yt) ** 2):.4f}")
    print("predicted   n     mean p  observed")
    edges = np.linspace(0, 1, 6)
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (p >= low) & (p < high if high < 1 else p <= high)
        if inside.any():
            print(
                f"[{low:.1f},{high:.1f})  {inside.sum():5d}  {p[inside].mean():.3f}   {yt[inside].mean():.3f}"
            )


if __name__ == "__main__":
    main()
