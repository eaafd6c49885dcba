"""The CrossEncoder reranker on a real (tiny) cross-encoder that this test builds and trains.

No hub: a 2-layer BERT with a WordPiece vocabulary made here learns, in a few seconds on CPU, that a
passage is relevant when it holds the question's word. Its word vectors are frozen and redrawn at
random every step, so it can only learn "the same token on both sides", which holds for words it
never trained on; the ranking checks use such held-out words. The first layer's query and key
weights start as the identity (a token attends to its twin), so a few hundred steps suffice.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kbqa.chain.rerank import load_reranker
from kbqa.chain.rerank.cross_encoder import CrossEncoderReranker
from kbqa.errors import ModelError
from kbqa.settings import RetrievalSettings
from kbqa.types import Hit

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FILLER = ["what", "is", "about", "the"]
WORDS = [f"w{i}" for i in range(240)]
TRAIN_WORDS, HELD_OUT = WORDS[:200], WORDS[200:]
PASSAGE_LEN = 5
HIDDEN = 32
STEPS, BATCH, LR = 500, 64, 2e-3  # it learns by step ~350 here


def _query(word: str) -> str:
    return f"what is {word} about"


def _passage(rng: random.Random, pool: list[str], word: str, *, holds: bool) -> str:
    """PASSAGE_LEN words of `pool`; `word` among them exactly when `holds`."""
    words = rng.sample([w for w in pool if w != word], PASSAGE_LEN)
    if holds:
        words[rng.randrange(PASSAGE_LEN)] = word
    return " ".join(["the", *words])


def _pairs(rng: random.Random, n: int) -> tuple[list[str], list[str], list[float]]:
    queries, passages, labels = [], [], []
    for _ in range(n):
        word = rng.choice(TRAIN_WORDS)
        holds = rng.random() < 0.5
        queries.append(_query(word))
        passages.append(_passage(rng, TRAIN_WORDS, word, holds=holds))
        labels.append(1.0 if holds else 0.0)
    return queries, passages, labels


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    tokens = [*SPECIAL, *FILLER, *WORDS]
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    # transformers 5 takes the WordPiece vocabulary as `vocab` (a dict); `vocab_file=` is ignored
    # there and every word becomes [UNK].
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(tokens)})
    assert tokenizer.unk_token_id not in tokenizer(_query("w7"), "the w3 w9")["input_ids"]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains faster on one thread
    torch.manual_seed(0)
    rng = random.Random(0)
    config = BertConfig(
        vocab_size=len(tokens),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * HIDDEN,
        max_position_embeddings=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.1,
        num_labels=1,
    )
    model = BertForSequenceClassification(config)
    words = model.bert.embeddings.word_embeddings.weight
    words.requires_grad_(False)
    attention = model.bert.encoder.layer[0].attention.self
    with torch.no_grad():
        for linear in (attention.query, attention.key):
            linear.weight.copy_(torch.eye(HIDDEN))
            linear.bias.zero_()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    first_word = len(SPECIAL) + len(FILLER)
    losses: list[float] = []
    try:
        model.train()
        for _ in range(STEPS):
            with torch.no_grad():
                words[first_word:].normal_(0.0, 1.0)
            queries, passages, labels = _pairs(rng, BATCH)
            batch = tokenizer(queries, passages, padding=True, return_tensors="pt")
            loss = loss_fn(model(**batch).logits.squeeze(-1), torch.tensor(labels))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        model.eval()
        last = sum(losses[-20:]) / 20
        assert last < 0.15, f"the tiny cross-encoder did not learn (loss {last:.3f}, 0.69 = chance)"
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _hits(rng: random.Random, word: str, distractors: int = 5) -> tuple[list[Hit], str]:
    pool = HELD_OUT + TRAIN_WORDS[:20]
    texts = [_passage(rng, pool, word, holds=False) for _ in range(distractors)]
    answer = _passage(rng, pool, word, holds=True)
    texts.insert(rng.randrange(len(texts) + 1), answer)
    return [Hit(text=text, source="x", page=None, score=0.5) for text in texts], answer


def test_puts_the_passage_with_the_question_word_first(tiny_cross_encoder: Path) -> None:
    reranker = CrossEncoderReranker(str(tiny_cross_encoder))
    assert reranker.name == "cross-encoder"
    rng = random.Random(1)
    for word in HELD_OUT[:10]:
        hits, answer = _hits(rng, word)
        scores = reranker.scores(_query(word), hits)
        assert len(scores) == len(hits)
        assert all(type(value) is float for value in scores)
        ranked = reranker.rerank(_query(word), hits)
        assert ranked[0].text == answer, (word, [(h.text, h.extra["rerank"]) for h in ranked])
        assert sorted(h.text for h in ranked) == sorted(h.text for h in hits)


def test_the_registry_loads_it_by_name(tiny_cross_encoder: Path) -> None:
    settings = RetrievalSettings(rerank="cross-encoder", rerank_model=str(tiny_cross_encoder))
    reranker = load_reranker(settings)
    assert isinstance(reranker, CrossEncoderReranker)
    assert load_reranker(settings) is reranker


def test_no_model_says_which_setting_to_set() -> None:
    with pytest.raises(ModelError, match=r"retrieval\.rerank_model.*bge-reranker-v2-m3"):
        CrossEncoderReranker(None)


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-reranker")
    with pytest.raises(ModelError, match="reranker model folder not found: .*no-such-reranker"):
        CrossEncoderReranker(missing)
