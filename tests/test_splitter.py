"""The Chinese-aware splitter: sentence ends, sizes in tokens, overlap, metadata, speed."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from kbqa.splitter import ChineseAwareSplitter, approx_token_count, split_sentences
from kbqa.types import Section

LEADING_PUNCTUATION = tuple("。，、；：！？…）》」』”’.,;:!?")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_chinese_sentences_keep_their_punctuation() -> None:
    text = "员工每年享有年假。病假需要证明！可以调休吗？可以；但需审批……“这是引号。”结束"
    assert split_sentences(text) == [
        "员工每年享有年假。",
        "病假需要证明！",
        "可以调休吗？",
        "可以；",
        "但需审批……",
        "“这是引号。”",
        "结束",
    ]


def test_english_sentences_keep_abbreviations_decimals_and_versions() -> None:
    text = (
        "Small models, e.g. SmolLM2, run on CPUs. The 6.2B model needs v1.2 or later! "
        "Dr. Smith agrees, i.e. it works. Is it fast? Yes.\n1. Install it\n2. Run it"
    )
    assert split_sentences(text) == [
        "Small models, e.g. SmolLM2, run on CPUs. ",
        "The 6.2B model needs v1.2 or later! ",
        "Dr. Smith agrees, i.e. it works. ",
        "Is it fast? ",
        "Yes.\n",
        "1. Install it\n",
        "2. Run it",
    ]


def test_mixed_chinese_english() -> None:
    text = "我们使用Python 3.11开发。It runs offline.然后用FAISS检索，速度很快。OK?好的"
    assert split_sentences(text) == [
        "我们使用Python 3.11开发。",
        "It runs offline.",
        "然后用FAISS检索，速度很快。",
        "OK?",
        "好的",
    ]


def test_urls_and_numbers_are_not_cut() -> None:
    text = "详见 https://example.com/a.html?x=1 页面。Price: 1,000.50 dollars. Done"
    assert split_sentences(text) == [
        "详见 https://example.com/a.html?x=1 页面。",
        "Price: 1,000.50 dollars. ",
        "Done",
    ]


def test_approx_token_count() -> None:
    assert approx_token_count("年假十五天") == 5
    assert approx_token_count("annual leave days") == 4  # ceil(3 * 1.3)
    assert approx_token_count("年假 annual，") == 2 + 2 + 1
    assert approx_token_count("") == 0


def corpus(sentences: int, seed: int = 0) -> str:
    rnd = random.Random(seed)
    pool = [
        "员工每年享有带薪年假十五天，需要提前两周申请。",
        "公司提供免费午餐和班车服务！",
        "报销需在三十天内提交发票？",
        "如有疑问，请联系人力资源部……",
        "本系统使用FAISS向量索引和BM25关键词检索。",
        "Annual leave is fifteen days per year. ",
        "The model, e.g. SmolLM2, runs on CPU at 10.7 tokens/s. ",
        "Version v1.2 fixed 6.2B parameter loading! ",
    ]
    return "".join(rnd.choice(pool) for _ in range(sentences))


def test_chunks_fit_and_never_start_with_punctuation() -> None:
    text = corpus(400)
    splitter = ChineseAwareSplitter(chunk_size=64, chunk_overlap=16)
    chunks = splitter.split_text(text)
    assert len(chunks) > 10
    for chunk in chunks:
        assert approx_token_count(chunk) <= 64
        assert not chunk.startswith(LEADING_PUNCTUATION), chunk
        # Sentence-packed chunks end at a sentence end.
        assert chunk.endswith(("。", "！", "？", "…", ".", "!")), chunk


def test_overlap_is_whole_sentences_from_the_previous_chunk() -> None:
    sentences = [
        f"第{n}条规定员工的权利。" if n % 2 else f"Rule {n} is short. " for n in range(300)
    ]
    chunks = ChineseAwareSplitter(chunk_size=64, chunk_overlap=20).split_text("".join(sentences))
    for previous, current in zip(chunks, chunks[1:], strict=False):
        # Each chunk starts with whole sentences of the previous chunk (at most 20 tokens)...
        head = split_sentences(current)
        repeated = [s.strip() for s in head if s.strip() in previous]
        assert repeated, (previous, current)
        assert previous.endswith(repeated[-1])
        assert sum(approx_token_count(s) for s in repeated) <= 20
        # ...and then moves on.
        assert len(repeated) < len(head)


def test_no_text_lost_without_overlap() -> None:
    text = corpus(300) + "一" * 500 + " word" * 300 + "，".join(["长句没有句号"] * 80)
    chunks = ChineseAwareSplitter(chunk_size=50, chunk_overlap=0).split_text(text)
    assert squeeze("".join(chunks)) == squeeze(text)
    assert all(approx_token_count(chunk) <= 50 for chunk in chunks)


def test_long_sentence_cut_at_commas_then_words_then_characters() -> None:
    splitter = ChineseAwareSplitter(chunk_size=20, chunk_overlap=0)
    clauses = "，".join(["第一部分内容比较长"] * 6) + "。"
    chunks = splitter.split_text(clauses)
    assert all(chunk.endswith(("，", "。")) for chunk in chunks), chunks
    words = " ".join(["internationalization"] * 40) + "."
    assert all(approx_token_count(c) <= 20 for c in splitter.split_text(words))
    assert all(not c.startswith(" ") for c in splitter.split_text(words))
    solid = "无标点的超长中文文本" * 10
    pieces = splitter.split_text(solid)
    assert [len(piece) for piece in pieces] == [20] * 5
    assert "".join(pieces) == solid


class WordPieceLike:
    """A counter that is not additive at joins, like subword tokenizers: it counts a join of
    two Latin words without a space as three tokens."""

    def __init__(self) -> None:
        self.calls = 0
        self.batch_calls = 0
        self.batch_texts = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return approx_token_count(text) + len(re.findall(r"[a-z][A-Z]", text)) * 3

    def batch(self, texts: list[str]) -> list[int]:
        self.batch_calls += 1
        self.batch_texts += len(texts)
        return [self(text) for text in texts]


def test_non_additive_counter_never_gets_an_oversize_chunk() -> None:
    counter = WordPieceLike()
    # Sentences end in a lower-case letter and the next one starts with a capital: the joins
    # "wordNext" cost extra tokens that per-sentence counts miss.
    text = "".join(f"第{i}句的内容在这里 and more words here。Next" for i in range(200))
    splitter = ChineseAwareSplitter(30, 8, counter, count_tokens_batch=counter.batch)
    chunks = splitter.split_text(text)
    assert chunks and all(counter(chunk) <= 30 for chunk in chunks)


def test_counter_is_called_per_sentence_not_per_character() -> None:
    counter = WordPieceLike()
    text = corpus(500)
    splitter = ChineseAwareSplitter(128, 16, counter, count_tokens_batch=counter.batch)
    chunks = splitter.split_text(text)
    sentences = len(split_sentences(text))
    assert counter.batch_calls <= 3  # sentences, then all packed chunks, in batches
    assert counter.calls <= sentences + len(chunks) + 10
    assert counter.calls < len(text) / 10


def test_chunks_never_cross_sections_and_keep_metadata() -> None:
    sections = [
        Section(text=corpus(40, seed=1), page=1, heading="第一章"),
        Section(text="短页。", page=2, heading="第一章"),
        Section(text="   \n ", page=3, heading="第二章"),  # blank: no chunk
        Section(text=corpus(40, seed=2), page=4, heading="第二章"),
    ]
    splitter = ChineseAwareSplitter(chunk_size=64, chunk_overlap=16)
    chunks = splitter.split(sections, source="手册.pdf", path="docs/手册.pdf")
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    assert {chunk.source for chunk in chunks} == {"手册.pdf"}
    assert {chunk.path for chunk in chunks} == {"docs/手册.pdf"}
    by_page: dict[int | None, str] = {}
    for chunk in chunks:
        by_page[chunk.page] = by_page.get(chunk.page, "") + chunk.text
        section = next(s for s in sections if s.page == chunk.page)
        assert chunk.heading == section.heading
        assert squeeze(chunk.text) in squeeze(section.text)  # from that page only
    assert set(by_page) == {1, 2, 4}
    assert [c.text for c in chunks if c.page == 2] == ["短页。"]


def test_loaded_pdf_pages_become_chunks_with_right_pages(tmp_path: Path) -> None:
    from kbqa import loaders
    from tests import docgen

    pages = [corpus(30, seed=n) for n in range(3)]
    path = docgen.write_text_pdf(tmp_path / "p.pdf", pages, bookmarks=["甲", None, "乙"])
    chunks = ChineseAwareSplitter(64, 16).split(loaders.load(path), source="p.pdf", path="p.pdf")
    for chunk in chunks:
        assert squeeze(chunk.text) in squeeze(pages[chunk.page - 1])
    assert {(c.page, c.heading) for c in chunks} == {(1, "甲"), (2, "甲"), (3, "乙")}


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError, match="chunk_overlap"):
        ChineseAwareSplitter(chunk_size=32, chunk_overlap=32)
    with pytest.raises(ValueError, match="chunk_size"):
        ChineseAwareSplitter(chunk_size=0, chunk_overlap=0)


def test_empty_input() -> None:
    splitter = ChineseAwareSplitter()
    assert splitter.split([], source="a", path="a") == []
    assert splitter.split_text("  \n\n ") == []


def test_two_megabytes_in_seconds() -> None:
    text = corpus(60_000)
    assert len(text.encode()) > 2_000_000
    sections = [Section(text=text[i : i + 20_000], page=None) for i in range(0, len(text), 20_000)]
    started = time.perf_counter()
    chunks = ChineseAwareSplitter(256, 32).split(sections, source="big", path="big")
    elapsed = time.perf_counter() - started
    print(f"\nsplitter: {len(text):,} chars in {elapsed:.2f} s, {len(text) / elapsed:,.0f} chars/s")
    assert chunks and elapsed < 10


def test_real_wordpiece_tokenizer_limit(minilm_tokenizer) -> None:
    """With MiniLM's own tokenizer (256 word pieces, 2 special), every chunk fits its input."""
    tokenizer = minilm_tokenizer

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    def count_batch(texts: list[str]) -> list[int]:
        return [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]

    text = corpus(3000) + "Ünïcödé wörds " * 200
    splitter = ChineseAwareSplitter(254, 32, count, count_tokens_batch=count_batch)
    chunks = splitter.split_text(text)
    assert max(count(chunk) for chunk in chunks) <= 254
    assert max(count(chunk) for chunk in chunks) > 200  # chunks are filled, not tiny


def test_ascii_periods_in_chinese_text_split_in_linear_time() -> None:
    text = "它很好.真的很好.是的." * 20_000
    started = time.perf_counter()
    sentences = split_sentences(text)
    assert time.perf_counter() - started < 3
    assert sentences[:3] == ["它很好.", "真的很好.", "是的."]
    assert split_sentences("Speed is 10 tokens/s. Next one. J. Smith wrote it.") == [
        "Speed is 10 tokens/s. ",
        "Next one. ",
        "J. Smith wrote it.",
    ]


def test_a_chunk_never_ends_on_an_option_name():
    """An option's name opens the chunk that holds its description (man pages)."""
    from kbqa.splitter import ChineseAwareSplitter

    entries = [
        f"    Option{i}=\n        Sets the value number {i} of the service." for i in range(40)
    ]
    text = "\n\n".join(entries)
    chunks = ChineseAwareSplitter(chunk_size=40, chunk_overlap=0).split_text(text)
    assert len(chunks) > 3
    for chunk in chunks[:-1]:
        assert not chunk.rstrip().splitlines()[-1].strip().endswith("=")
    for i in range(40):
        holder = next(c for c in chunks if f"value number {i} " in c)
        assert f"Option{i}=" in holder
