"""Build knowledge/llm-families.pdf, the PDF of the sample knowledge base.

The PDF is the other-language edition of the sample Markdown files: English pages for what
knowledge/*.zh.md covers (ChatGLM-6B, BLOOM, the applications) and Chinese pages for what
knowledge/*.en.md covers (LLaMA, its derivatives). So every fact is stated once per language and a
question has exactly one place in its own language that answers it (the dev set relies on that),
while the sample knowledge base still shows page citations and bookmarks.

Deterministic: the same text gives the same bytes (fixed creation date), so the committed PDF can
be checked against this script (tests/test_datasets.py does).

    python scripts/build_knowledge_pdf.py [--out knowledge/llm-families.pdf]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.docgen import write_text_pdf  # noqa: E402

OUT = REPO / "knowledge" / "llm-families.pdf"
# fpdf2 stamps the current time into the file (and its /ID); a fixed one makes builds repeatable.
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)

# (bookmark, page text). One entry per physical page; the dev set cites these page numbers.
PAGES: list[tuple[str | None, str]] = [
    (
        "Overview / 概览",
        """Open LLM families: a short handbook
开源大模型家族简明手册

This handbook is part of the kbqa sample knowledge base. It introduces three families of open large language models and two applications built on them. The Markdown files next to it cover the same topics in the other language.

本手册是 kbqa 示例知识库的一部分，介绍三类开源大模型以及基于它们的两个应用。同目录下的 Markdown 文件用另一种语言介绍相同的主题。

Contents / 目录
Pages 2-3: ChatGLM-6B (English)
Page 4: BLOOM (English)
Page 5: LangChain-ChatGLM and Wenda (English)
第 6-7 页：LLaMA（中文）
第 8 页：衍生模型（中文）

The three families at a glance
ChatGLM-6B is a bilingual Chinese-English chat model; its derivatives include Wenda, LangChain-ChatGLM and ChatSQL.
LLaMA is a family of English-centred base models; its derivatives include Alpaca, Vicuna, BELLE, Chinese-LLaMA and Chimera.
BLOOM is a family of multilingual models; its derivatives include BLOOMZ, BELLE, Phoenix and Xuanyuan.

三大家族一览
ChatGLM-6B 是中英双语对话模型，衍生应用有闻达、LangChain-ChatGLM 和 ChatSQL。
LLaMA 是以英文为主的基础模型系列，衍生模型有 Alpaca、Vicuna、BELLE、Chinese-LLaMA 和 Chimera。
BLOOM 是多语言模型系列，衍生模型有 BLOOMZ、BELLE、凤凰和轩辕。""",
    ),
    (
        "ChatGLM-6B",
        """ChatGLM-6B

ChatGLM-6B is an open bilingual (Chinese and English) chat model released by Tsinghua University's THUDM group and Zhipu AI.
ChatGLM-6B is built on the General Language Model (GLM) architecture.
ChatGLM-6B has 6.2 billion parameters.
ChatGLM-6B was trained on about 1T tokens of Chinese and English text in a 1:1 ratio.
After pre-training, ChatGLM-6B was aligned with supervised fine-tuning, feedback bootstrap and reinforcement learning from human feedback (RLHF).

Training objective
GLM is pre-trained with autoregressive blank infilling: spans of the input are replaced by [MASK] tokens, and the model regenerates the missing spans one after another, in shuffled order.
GLM encodes positions in two dimensions: the first gives the position of a span in the original text, the second gives the position of a token inside its span.
GLM turns language-understanding tasks into cloze questions with a task description and answers them by generation.

Architecture
ChatGLM-6B is a prefix decoder: attention is bidirectional over the input and causal over the generated output.
ChatGLM-6B uses post-layer normalization (Post-LN) with DeepNorm.
ChatGLM-6B uses the GeLU activation function instead of ReLU.
ChatGLM-6B uses rotary position embeddings (RoPE) instead of absolute position embeddings.
ChatGLM-6B shrinks the gradient of its embedding layer to about one tenth to make training more stable.""",
    ),
    (
        "ChatGLM-6B: configuration and hardware",
        """ChatGLM-6B configuration

ChatGLM-6B has a hidden size of 4096.
ChatGLM-6B has 28 transformer layers.
ChatGLM-6B has 32 attention heads per layer.
ChatGLM-6B has a feed-forward inner size of 16384.
ChatGLM-6B has a vocabulary of 130528 tokens.
ChatGLM-6B has a maximum sequence length of 2048 tokens.

Hardware requirements
At FP16, without quantization, ChatGLM-6B needs at least 13 GB of GPU memory for inference.
With INT8 quantization, ChatGLM-6B needs at least 10 GB of GPU memory for inference.
With INT4 quantization, ChatGLM-6B needs only 6 GB of GPU memory for inference, so it runs on consumer graphics cards.
Parameter-efficient fine-tuning of ChatGLM-6B needs at least 14 GB, 9 GB and 7 GB of GPU memory at FP16, INT8 and INT4.

Strengths and weaknesses
ChatGLM-6B is cheap to deploy and was trained to follow human intent.
ChatGLM-6B has limited capacity, so its memory of facts and its multi-turn dialogue are weaker than those of larger models.""",
    ),
    (
        "BLOOM",
        """BLOOM

BLOOM is an open multilingual language model trained by the BigScience collaboration, which Hugging Face coordinated.
BLOOM was trained on text in 46 natural languages and 13 programming languages.
BLOOM comes in six sizes: 560M, 1.1B, 1.7B, 3B, 7.1B and 176B parameters.
BLOOM-176B saw 366 billion tokens during training.

Objective, tokenizer and architecture
BLOOM is a causal decoder-only language model that predicts the next token.
BLOOM uses a byte-level BPE tokenizer with a vocabulary of 250880 tokens.
BLOOM adds a LayerNorm right after the word embeddings to stabilise training.
BLOOM uses pre-layer normalization and the GeLU activation function.
BLOOM uses ALiBi instead of position embeddings: it adds to each attention score a bias that grows linearly with the distance between query and key.
Thanks to ALiBi, BLOOM was trained on sequences of up to 2048 tokens but can read longer sequences at inference time.

Configuration of BLOOM-176B
BLOOM-176B has a hidden size of 14336.
BLOOM-176B has 70 transformer layers.
BLOOM-176B has 112 attention heads per layer.

Training hardware
BLOOM-176B was trained on 384 NVIDIA A100 80GB GPUs of the Jean Zay supercomputer in France, from March to July 2022.""",
    ),
    (
        "LangChain-ChatGLM and Wenda",
        """Applications: LangChain-ChatGLM and Wenda

LangChain-ChatGLM
LangChain-ChatGLM is a local knowledge-base question-answering application built on LangChain and ChatGLM-6B; it was later renamed Langchain-Chatchat.
LangChain-ChatGLM loads files, splits their text into chunks, embeds the chunks and the question, retrieves the top k most similar chunks, and passes them with the question to the language model.
The early versions of LangChain-ChatGLM used ChatGLM-6B as the language model, text2vec-large-chinese as the embedding model and FAISS as the vector store.

Wenda
Wenda is a platform for calling large language models that adds ChatPDF-like knowledge-base question answering on top of ChatGLM-6B and other models.
Wenda can be deployed fully offline and also supports RWKV and LLaMA models.
Wenda takes its knowledge either from a local vector index of documents or from online search results.
Wenda's Auto feature lets users extend the platform with scripts written in JavaScript.

kbqa
kbqa follows the same idea as these two projects: retrieve from local documents first, then let the model answer only from what was retrieved, and cite the sources.""",
    ),
    (
        "LLaMA（中文）",
        """LLaMA 模型

LLaMA（Large Language Model Meta AI）是 Meta AI 于 2023 年 2 月发布的一组开放的基础语言模型。
LLaMA 共有 7B、13B、33B 和 65B 四种参数规模。
LLaMA 只使用公开数据训练，训练数据以英文为主，另有来自 GitHub 的代码。
LLaMA 的训练数据几乎不包含中文、日文和韩文。
LLaMA-33B 和 LLaMA-65B 在 1.4 万亿个 token 上训练，LLaMA-7B 和 LLaMA-13B 在 1 万亿个 token 上训练。

训练目标与分词器
LLaMA 的训练目标是语言模型：根据上文预测下一个词。
LLaMA 使用 SentencePiece 分词器，词表大小只有 32000。
LLaMA 的词表里只有几百个汉字，一个汉字常被切成多个字节 token，所以它处理中文的效率很低。

模型结构
LLaMA 与 GPT 系列一样是 decoder-only 结构。
LLaMA 使用前置归一化（Pre-normalization）：对每个子层的输入做归一化，归一化函数是 RMSNorm。
RMSNorm 去掉了 LayerNorm 中减去均值的步骤，计算量更小。
LLaMA 用 SwiGLU 激活函数取代了 ReLU。
LLaMA 去掉了绝对位置编码，改用旋转位置编码 RoPE。""",
    ),
    (
        "LLaMA：配置与训练",
        """LLaMA-7B 的配置

LLaMA-7B 实际有 67 亿参数。
LLaMA-7B 的隐藏层维度为 4096。
LLaMA-7B 共有 32 层 Transformer。
LLaMA-7B 每层有 32 个注意力头。
LLaMA-7B 的前馈网络中间层维度为 11008。
LLaMA-7B 的上下文长度为 2048 个 token。

更大的模型
LLaMA-13B 的隐藏层维度为 5120，共 40 层，每层 40 个注意力头。
LLaMA-33B 的隐藏层维度为 6656，共 60 层，每层 52 个注意力头。
LLaMA-65B 的隐藏层维度为 8192，共 80 层，每层 64 个注意力头。

训练硬件
LLaMA-65B 在 2048 张 80GB 显存的 A100 GPU 上训练，每张 GPU 每秒约处理 380 个 token。
LLaMA-65B 在 1.4 万亿个 token 上训练一遍约需 21 天。

优点与不足
130 亿参数的 LLaMA-13B 在大多数基准上胜过 1750 亿参数的 GPT-3。
LLaMA-13B 可以在单块 V100 GPU 上运行。
650 亿参数的 LLaMA-65B 可以与 Chinchilla-70B 和 PaLM-540B 相媲美。
LLaMA 可能生成带有偏见、有害或不真实的内容。""",
    ),
    (
        "衍生模型",
        """衍生模型

基础模型很少被直接使用：人们运行的对话模型大多是在指令或对话数据上微调过的基础模型。

基于 LLaMA
Alpaca：斯坦福大学用 5.2 万条英文指令遵循数据微调了 LLaMA-7B。
Vicuna：以加州大学伯克利分校为首的团队用 ShareGPT 上约 7 万条用户分享的对话微调了 LLaMA-13B。
Chinese-LLaMA 先在中文语料上用 SentencePiece 训练一个含 20000 个词的中文分词器，再把它与原始 LLaMA 分词器合并。
合并后的 Chinese-LLaMA 分词器词表大小为 49953。
Chinese-Alpaca 在合并后的词表中又加入了一个填充符，词表大小为 49954。

基于 BLOOM
BLOOMZ：BigScience 在多任务提示数据集 xP3 上微调 BLOOM，得到 BLOOMZ。
凤凰（Phoenix）是香港中文大学（深圳）基于 BLOOMZ 训练的多语言对话模型。
轩辕是度小满的金融领域大模型，它在 BLOOM-176B 的基础上针对中文通用领域和金融领域做了继续预训练与微调。

BELLE
BELLE 是链家（贝壳）的开源项目，只使用由 ChatGPT 生成的指令数据，对 BLOOMZ-7B1-mt 和 LLaMA 进行指令微调，并针对中文做了优化。

基于 ChatGLM-6B
ChatGLM-6B 的衍生应用包括闻达、LangChain-ChatGLM 和 ChatSQL。""",
    ),
]


@contextlib.contextmanager
def reproducible_pdfs(date: datetime = FIXED_DATE) -> Iterator[None]:
    """Make every FPDF created inside the block carry `date`, so its bytes do not depend on when."""
    from fpdf import FPDF

    original = FPDF.__init__

    def init(self: FPDF, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        self.set_creation_date(date)

    FPDF.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        FPDF.__init__ = original  # type: ignore[method-assign]


def check_pages_fit(path: Path, margin_pt: float = 20.0) -> None:
    """Fail when a page's text runs off its bottom: write_text_pdf has no page breaks, so an
    overlong page would lose text silently (and the dev set's page numbers would lie)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        for index in range(len(pdf)):
            textpage = pdf[index].get_textpage()
            count = textpage.count_chars()
            lowest = min(textpage.get_charbox(i)[1] for i in range(count)) if count else margin_pt
            if lowest < margin_pt:
                raise SystemExit(f"{path.name}: page {index + 1} overflows; shorten its text")
    finally:
        pdf.close()


def build(path: Path, pages: Sequence[tuple[str | None, str]]) -> Path:
    with reproducible_pdfs():
        write_text_pdf(path, [text for _, text in pages], bookmarks=[mark for mark, _ in pages])
    check_pages_fit(path)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    build(args.out, PAGES)
    print(f"wrote {args.out} ({len(PAGES)} pages)")


if __name__ == "__main__":
    main()
