"""The lexical reranker ("terms") and the registry, on real text; no model involved."""

import pytest

from kbqa.chain.rerank import load_reranker, rerankers
from kbqa.chain.rerank.terms import TermReranker
from kbqa.settings import RetrievalSettings
from kbqa.text.fusion import rrf_term as rrf
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
    assert RetrievalSettings().rerank == "sentences"  # the default
    assert load_reranker(RetrievalSettings(rerank="none")) is None  # fused order
    assert isinstance(load_reranker(RetrievalSettings(rerank="terms")), TermReranker)
    with pytest.raises(ValueError, match="unknown reranker 'nope'"):
        load_reranker(RetrievalSettings(rerank="nope"))


def test_sentence_reranker_lifts_the_chunk_whose_one_line_answers(sample_kb):
    """e5 at sentence level (the real bundled embedder): a chunk that states the answer in one of
    its lines beats chunks that are only about the topic, whatever their fused order."""
    from kbqa.chain.rerank.sentences import SentenceReranker

    filler = (
        "The login manager keeps track of users and their sessions. "
        "It also watches seats and the devices attached to them. "
    )
    # fused scores as reciprocal-rank fusion gives them: (dense, BM25) ranks (1, 2), (2, 3), (3, 1)
    hits = [
        hit(filler + "Sessions may be locked by the desktop environment.", rrf(1) + rrf(2)),
        hit(filler + "Seats group the graphics devices of one workplace.", rrf(2) + rrf(3)),
        hit(
            filler + "InhibitorsMax= sets how many inhibitor locks may exist at once; "
            "it defaults to 8192.",
            rrf(3) + rrf(1),
        ),
    ]
    reranker = SentenceReranker(sample_kb.embedder)
    question = "How many inhibitor locks can exist at the same time?"
    ranked = reranker.rerank(question, hits)
    assert "InhibitorsMax" in ranked[0].text
    cosines = reranker.best_sentence_cosines(question, hits)
    assert cosines[2] == max(cosines)
    # The searcher's query vector, when given, is the one used (no second encoding needed).
    vector = sample_kb.embedder.encode_query(question)
    assert reranker.best_sentence_cosines(question, hits, vector) == pytest.approx(cosines)
    # and it is really read: against the opposite vector every best cosine turns negative.
    assert all(c < 0 for c in reranker.best_sentence_cosines(question, hits, -vector))
    # Only the first `depth` candidates are read; the rest keep their fused order below them.
    shallow = SentenceReranker(sample_kb.embedder, depth=2).rerank(question, hits)
    assert "InhibitorsMax" in shallow[-1].text


def test_sentence_reranker_is_built_with_the_knowledge_base_embedder(sample_kb):
    from kbqa.chain.rerank.sentences import SentenceReranker

    settings = RetrievalSettings(rerank="sentences")
    reranker = load_reranker(settings, sample_kb.embedder)
    assert isinstance(reranker, SentenceReranker)
    assert reranker.embedder is sample_kb.embedder
    assert load_reranker(settings, sample_kb.embedder) is reranker  # loaded once
    with pytest.raises(ValueError, match="needs the knowledge base's embedder"):
        load_reranker(settings)
    found = sample_kb.search("How many parameters does LLaMA have?", k=3, rerank="sentences")
    assert found and all("rerank" in h.extra for h in found)


def test_sentence_reranker_favours_a_candidate_giving_the_kind_of_answer_asked(
    sample_kb, monkeypatch
):
    """A question asking for a default ("if I don't set one") lifts the candidate that states a
    default by KIND_WEIGHT of a first place; a question asking for no kind lifts nothing."""
    from kbqa.chain.rerank import sentences
    from kbqa.chain.rerank.sentences import SentenceReranker

    hits = [
        hit(
            "The formatter wraps long lines at the line width. Wider lines split at brackets.",
            rrf(1) + rrf(2),
        ),
        hit("How many characters per line to allow. The default is 88.", rrf(2) + rrf(1)),
    ]
    reranker = SentenceReranker(sample_kb.embedder)
    asking = "What line width does the formatter use if I don't set one?"
    plain = "Why does the formatter split wide lines?"
    with_kind = {q: reranker.scores(q, hits) for q in (asking, plain)}
    monkeypatch.setattr(sentences, "KIND_WEIGHT", 0.0)
    without = {q: reranker.scores(q, hits) for q in (asking, plain)}
    assert with_kind[asking][1] - without[asking][1] == pytest.approx(rrf(1, 0.3))
    assert with_kind[asking][0] == pytest.approx(without[asking][0])
    assert with_kind[plain] == pytest.approx(without[plain])
