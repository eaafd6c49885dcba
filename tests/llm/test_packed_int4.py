"""torch's packed int4 layer (kbqa's int4 on CPU): the GGUF Q4_1 grid survives, both paths agree."""

from __future__ import annotations

import pytest
import torch

from kbqa.llm.packed_int4 import (
    GROUP,
    KERNEL_MAX_TOKENS,
    PackedInt4Linear,
    _unpack,
    can_pack,
    pack_model,
    packed_int4_available,
)

pytestmark = pytest.mark.skipif(not packed_int4_available(), reason="no CPU int4 kernel in torch")


def q4_1(rows: int, columns: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Weights on a Q4_1 grid (code * scale + minimum per group of 32), as a GGUF file stores
    them (each group uses codes 0 and 15, as llama.cpp's quantiser makes them): weights, codes,
    scales, minimums."""
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 16, (rows, columns // GROUP, GROUP), generator=generator)
    codes[..., 0], codes[..., 1] = 0, 15
    scale = torch.rand(rows, columns // GROUP, 1, generator=generator) * 0.01 + 0.001
    low = -torch.rand(rows, columns // GROUP, 1, generator=generator) * 0.05
    return (codes * scale + low).reshape(rows, columns), codes, scale, low


def test_the_q4_1_grid_is_recovered() -> None:
    weights, codes, scale, low = q4_1(128, 96)
    layer = PackedInt4Linear.from_linear(torch.nn.Linear(96, 128, bias=False), weights)
    # The 4-bit codes are the file's own; only scale and zero point are rounded (to bf16).
    assert torch.equal(_unpack(layer.packed, 128, 96), codes.reshape(128, 96).to(torch.uint8))
    stored_scale = layer.scales_and_zeros[..., 0].transpose(0, 1).float()
    assert torch.allclose(stored_scale, scale[..., 0], rtol=4e-3)
    assert torch.allclose(layer.dequantise().float(), weights, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("tokens", [1, KERNEL_MAX_TOKENS, KERNEL_MAX_TOKENS + 1, 200])
def test_kernel_and_prefill_paths_compute_the_same_product(tokens: int) -> None:
    linear = torch.nn.Linear(192, 256, bias=True)
    with torch.no_grad():
        linear.weight.copy_(q4_1(256, 192, seed=1)[0])
    layer = PackedInt4Linear.from_linear(linear)
    x = torch.randn(2, tokens, 192)
    with torch.inference_mode():
        want = torch.nn.functional.linear(x, layer.dequantise().float(), linear.bias)
        got = layer(x)
    assert got.shape == (2, tokens, 256) and got.dtype == x.dtype
    cosine = torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0)
    assert cosine > 0.999 and (got - want).abs().max() < 0.05 * want.abs().max()


def test_pack_model_keeps_the_head_and_odd_shapes() -> None:
    model = torch.nn.Sequential()
    model.add_module("body", torch.nn.Linear(64, 128))
    model.add_module("odd", torch.nn.Linear(128, 100))  # 100 rows: not a block of 64
    model.add_module("lm_head", torch.nn.Linear(100, 256))
    assert not can_pack(model.odd)
    assert pack_model(model, torch.bfloat16) == 1
    assert isinstance(model.body, PackedInt4Linear)
    assert type(model.odd) is torch.nn.Linear and type(model.lm_head) is torch.nn.Linear
    assert model(torch.randn(3, 64)).shape == (3, 256)
    weights = sum(b.numel() * b.element_size() for b in model.body.buffers())
    assert weights < 64 * 128 * 2 * 0.35  # int4 plus per-group scales: about a third of bf16
