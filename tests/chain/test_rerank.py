"""The lexical reranker ("terms") and the registry, on real text; no model involved."""

import pytest

from kbqa.chain.rerank import load_reranker, rerankers
from kbqa.chain.rerank.terms import TermReranker
from kbqa.settings import RetrievalSettings
from kbqa.types import Hit


def hit(text: str, fused: float, heading: str | None = None) -> Hit:
    return Hit(
        text=text,
        source="logind.conf",
        page=None,
        score=0.85,
        heading=heading,
        extra={"fused": fused},
    )


def test_the_candidate_where_the_question_terms_meet_comes_first():
    hits = [
        # fused first: shares the generic words only
        hit("The default timeout applies to every session and every seat.", 0.033),
        hit("Sessions are tracked per seat; idle sessions can be stopped.", 0.032),
        # fused last: names the option and its default in one sentence
        hit("Other settings follow. InhibitorsMax= defaults to 8192 inhibitor locks.", 0.030),
    ]
    ranked = TermReranker().rerank("What is the default of InhibitorsMax?", hits)
    assert "InhibitorsMax" in ranked[0].text
    assert all("rerank" in h.extra for h in ranked)


def test_without_question_terms_the_fused_order_stays():
    hits = [hit("alpha", 0.03), hit("beta", 0.02), hit("gamma", 0.01)]
    assert [h.text for h in TermReranker().rerank("?", hits)] == ["alpha", "beta", "gamma"]


def test_registry_names_and_errors():
    assert rerankers()[:1] == ["none"] and {"terms", "cross-encoder"} <= set(rerankers())
    assert load_reranker(RetrievalSettings()) is None  # the default: fused order
    assert isinstance(load_reranker(RetrievalSettings(rerank="terms")), TermReranker)
    with pytest.raises(ValueError, match="unknown reranker 'nope'"):
        load_reranker(RetrievalSettings(rerank="nope"))
