"""Tiny random-weight checkpoints built from configs, saved the way a user's checkpoint is.

The tokenizer is byte-level BPE without merges: every byte is one token, so a CJK character takes
three tokens. That makes it a good test of streaming whole characters.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]
HIDDEN = 64


def byte_tokenizer(chat_template: str | None = None) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for char in bytes_to_unicode().values():
        vocab[char] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


def vocab_size() -> int:
    return len(SPECIALS) + 256


def _ascii_only(model: Any, tokenizer: Any) -> None:
    """Make greedy decoding pick printable ASCII bytes only, so outputs re-tokenise 1:1."""
    import torch

    keep = set()
    for token, index in tokenizer.get_vocab().items():
        text = tokenizer.convert_tokens_to_string([token])
        if len(text) == 1 and 32 <= ord(text) < 127:
            keep.add(index)
    head = model.get_output_embeddings()
    with torch.no_grad():
        for index in range(head.weight.shape[0]):
            if index not in keep:
                head.weight[index].zero_()
                if getattr(head, "bias", None) is not None:
                    head.bias[index] = -1e4


def save_tiny(
    kind: str, folder: Path, *, max_positions: int = 512, ascii_only: bool = True
) -> Path:
    """Build a random `kind` model (llama, bloom, glm, glm4) and save model + tokenizer to `folder`."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        BloomConfig,
        Glm4Config,
        GlmConfig,
        LlamaConfig,
    )

    torch.manual_seed(0)
    ids = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3}
    common = {
        "vocab_size": vocab_size(),
        "hidden_size": HIDDEN,
        "num_attention_heads": 4,
        **ids,
    }
    if kind == "llama":
        config = LlamaConfig(
            **common,
            intermediate_size=128,
            num_hidden_layers=2,
            num_key_value_heads=2,
            max_position_embeddings=max_positions,
        )
    elif kind == "bloom":
        config = BloomConfig(
            vocab_size=vocab_size(), hidden_size=HIDDEN, n_layer=2, n_head=4, **ids
        )
    elif kind in ("glm", "glm4"):  # the same shape; Glm4 adds post-norms in its code
        config = (GlmConfig if kind == "glm" else Glm4Config)(
            **common,
            intermediate_size=128,
            num_hidden_layers=2,
            num_key_value_heads=2,
            head_dim=16,
            max_position_embeddings=max_positions,
        )
    else:
        raise ValueError(kind)
    model = AutoModelForCausalLM.from_config(config)
    tokenizer = byte_tokenizer()
    if ascii_only:
        _ascii_only(model, tokenizer)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# -- a ChatGLM-style checkpoint whose modelling code ships with it (trust_remote_code) -------------

CONFIGURATION_CHATGLM = """
from transformers import PretrainedConfig


class ChatGLMConfig(PretrainedConfig):
    model_type = "chatglm"

    def __init__(self, vocab_size=260, hidden_size=64, num_layers=2, max_sequence_length=2048,
                 position_encoding_2d=True, quantization_bit=0, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.max_sequence_length = max_sequence_length
        self.position_encoding_2d = position_encoding_2d
        self.quantization_bit = quantization_bit
        super().__init__(**kwargs)
"""

MODELING_CHATGLM = '''
"""A tiny stand-in for THUDM's modeling_chatglm.py: same entry points (AutoModel via auto_map,
quantize(bits)), a small causal network underneath."""
import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from .configuration_chatglm import ChatGLMConfig


class QuantizedLinear(nn.Module):
    """Symmetric per-row integer weights, like THUDM's quantization.py (int8 or packed-free int4)."""

    def __init__(self, linear, bits):
        super().__init__()
        weight = linear.weight.data.float()
        limit = 2 ** (bits - 1) - 1
        scale = weight.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / limit
        self.register_buffer("weight_int", torch.round(weight / scale).to(torch.int8))
        self.register_buffer("weight_scale", scale.to(weight.dtype))
        self.bias = linear.bias
        self.bits = bits

    def forward(self, x):
        weight = (self.weight_int.to(x.dtype) * self.weight_scale.to(x.dtype))
        return nn.functional.linear(x, weight, self.bias)


class Block(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.dense_h_to_4h = nn.Linear(hidden, 4 * hidden)
        self.dense_4h_to_h = nn.Linear(4 * hidden, hidden)

    def forward(self, h):
        # causal mixing: each position sees the running mean of the positions before it
        steps = torch.arange(1, h.shape[1] + 1, device=h.device, dtype=h.dtype).view(1, -1, 1)
        mixed = h.cumsum(dim=1) / steps
        return h + self.dense_4h_to_h(nn.functional.gelu(self.dense_h_to_4h(self.norm(mixed))))


class ChatGLMForConditionalGeneration(PreTrainedModel, GenerationMixin):
    config_class = ChatGLMConfig
    base_model_prefix = "transformer"
    _no_split_modules = ["Block"]

    def __init__(self, config):
        super().__init__(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Block(config.hidden_size) for _ in range(config.num_layers))
        self.final_layernorm = nn.LayerNorm(config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()
        if config.quantization_bit:
            self.quantize(config.quantization_bit)

    def get_input_embeddings(self):
        return self.word_embeddings

    def get_output_embeddings(self):
        return self.lm_head

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        return {"input_ids": input_ids}  # no cache: the whole sequence every step

    def forward(self, input_ids, attention_mask=None, return_dict=True, **kwargs):
        h = self.word_embeddings(input_ids)
        for layer in self.layers:
            h = layer(h)
        return CausalLMOutput(logits=self.lm_head(self.final_layernorm(h)).float())

    def quantize(self, bits, empty_init=False, **kwargs):
        if bits not in (4, 8):
            raise ValueError(f"bits must be 4 or 8, not {bits}")
        for layer in self.layers:
            layer.dense_h_to_4h = QuantizedLinear(layer.dense_h_to_4h, bits)
            layer.dense_4h_to_h = QuantizedLinear(layer.dense_4h_to_h, bits)
        self.config.quantization_bit = bits
        return self
'''


TOKENIZATION_CHATGLM3 = '''
"""A tiny stand-in for ChatGLM3's tokenizer: role tokens and build_chat_input(query, history, role)."""
import torch
from transformers import BatchEncoding, PreTrainedTokenizerFast


class ChatGLMTokenizer(PreTrainedTokenizerFast):
    def build_single_message(self, role, metadata, message):
        return self.encode(f"<|{role}|>", add_special_tokens=False) + self.encode(
            f"{metadata}\\n" + message, add_special_tokens=False
        )

    def build_chat_input(self, query, history=None, role="user"):
        ids = self.encode("[gMASK]sop", add_special_tokens=False)
        for item in history or []:
            ids += self.build_single_message(item["role"], item.get("metadata", ""), item["content"])
        ids += self.build_single_message(role, "", query)
        ids += self.encode("<|assistant|>", add_special_tokens=False)
        return BatchEncoding({"input_ids": torch.tensor([ids])})
'''


def save_tiny_chatglm3(folder: Path) -> Path:
    """A ChatGLM3-style folder: the model code above plus a remote tokenizer with role tokens."""
    save_tiny_chatglm(folder, extra_vocab=8)
    (folder / "tokenization_chatglm.py").write_text(textwrap.dedent(TOKENIZATION_CHATGLM3))
    tokenizer = byte_tokenizer()
    tokenizer.add_special_tokens(
        {
            "additional_special_tokens": [
                "<|system|>",
                "<|user|>",
                "<|assistant|>",
                "<|observation|>",
            ]
        }
    )
    tokenizer.save_pretrained(folder)
    data = json.loads((folder / "tokenizer_config.json").read_text())
    data["tokenizer_class"] = "ChatGLMTokenizer"
    data["auto_map"] = {"AutoTokenizer": [None, "tokenization_chatglm.ChatGLMTokenizer"]}
    (folder / "tokenizer_config.json").write_text(json.dumps(data, indent=1))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"]["AutoTokenizer"] = [None, "tokenization_chatglm.ChatGLMTokenizer"]
    for key in ("position_encoding_2d", "max_sequence_length"):
        config.pop(key, None)
    config["seq_length"] = 8192
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    return folder


def save_tiny_chatglm(
    folder: Path, *, quantization_bit: int = 0, with_quantize: bool = True, extra_vocab: int = 0
) -> Path:
    """A ChatGLM-6B-style folder: config.json with auto_map, the modelling code, weights, tokenizer."""
    import importlib.util
    import sys

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    modeling = (
        MODELING_CHATGLM
        if with_quantize
        else MODELING_CHATGLM.replace("def quantize(", "def _no_quantize(")
    )
    (folder / "configuration_chatglm.py").write_text(textwrap.dedent(CONFIGURATION_CHATGLM))
    (folder / "modeling_chatglm.py").write_text(textwrap.dedent(modeling))
    # Build and save the weights with the very code the folder ships.
    package = f"tiny_chatglm_{abs(hash(str(folder)))}"
    init = folder / "__init__.py"
    init.write_text("")
    spec = importlib.util.spec_from_file_location(
        package, init, submodule_search_locations=[str(folder)]
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)
    config_mod = importlib.import_module(f"{package}.configuration_chatglm")
    modeling_mod = importlib.import_module(f"{package}.modeling_chatglm")
    torch.manual_seed(0)
    config = config_mod.ChatGLMConfig(
        vocab_size=vocab_size() + extra_vocab, bos_token_id=1, eos_token_id=2, pad_token_id=3
    )
    model = modeling_mod.ChatGLMForConditionalGeneration(config)
    tokenizer = byte_tokenizer()
    _ascii_only(model, tokenizer)
    model.save_pretrained(folder)
    init.unlink()
    tokenizer.save_pretrained(folder)
    data = json.loads((folder / "config.json").read_text())
    data["auto_map"] = {
        "AutoConfig": "configuration_chatglm.ChatGLMConfig",
        "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration",
        "AutoModelForSeq2SeqLM": "modeling_chatglm.ChatGLMForConditionalGeneration",
    }
    data["model_type"] = "chatglm"
    data["architectures"] = ["ChatGLMModel"]
    data["quantization_bit"] = quantization_bit
    (folder / "config.json").write_text(json.dumps(data, indent=1))
    return folder
