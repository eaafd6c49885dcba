"""INT4 weights on CPU through torch's own packed-int4 kernel (groups of 32, scale and zero point).

Why not bitsandbytes' NF4 on CPU: its matrix-vector kernel is slow there. On SmolLM2's shapes
(576x1536, one token) it took 190-290 us a call against 15-30 us for torch's
`_weight_int4pack_mm_for_cpu` (the kernel torchao's int4 uses), and decoding spent 57% of its time
in it (docs/bench/llm.md). bitsandbytes stays kbqa's INT4 on CUDA and the explicit `nf4` choice.

Groups of 32 weights with a scale and a minimum are the GGUF Q4_1 layout: re-quantising the
dequantised weights of a Q4_1 file (the embedded SmolLM2) finds each group's own grid again, so
the file's 4-bit weights run as they are (scales and zero points rounded to bf16).

The kernel is for one or a few tokens (decoding). A prompt's prefill (hundreds of tokens) runs
faster as a bf16 matmul of weights unpacked on the fly, so the layer switches on the token count.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

GROUP = 32
BLOCK_ROWS = 64  # out_features must be a multiple of the packing's row block (64 or 32, _unpack)
KERNEL_MAX_TOKENS = 16  # at 64 tokens the kernel was already 1.7x slower than a bf16 matmul


@functools.cache
def packed_int4_available() -> bool:
    """True when this torch has the CPU int4 kernel and it computes what kbqa expects."""
    try:
        if not _packing_rows():
            return False
        weight = torch.linspace(-1, 1, 64 * 64).reshape(64, 64)
        layer = PackedInt4Linear.from_linear(torch.nn.Linear(64, 64, bias=False), weight)
        probe = torch.linspace(-1, 1, 64).reshape(1, 64).to(torch.bfloat16)
        reference = probe.float() @ layer.dequantise().float().T
        return bool(torch.allclose(layer(probe).float(), reference, atol=0.1))
    except Exception:  # an older torch, or a platform without the kernel
        return False


class PackedInt4Linear(torch.nn.Module):
    """A Linear layer holding int4 weights packed for torch's CPU kernel."""

    def __init__(self, in_features: int, out_features: int, compute_dtype: Any) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.compute_dtype = compute_dtype
        self.register_buffer(
            "packed", torch.empty(out_features, in_features // 2, dtype=torch.uint8)
        )
        # [in_features / GROUP, out_features, 2]: each group's scale and zero point
        self.register_buffer(
            "scales_and_zeros",
            torch.empty(in_features // GROUP, out_features, 2, dtype=compute_dtype),
        )
        self.bias: Any = None

    @classmethod
    def from_linear(
        cls, linear: Any, weight: Any | None = None, compute_dtype: Any = None
    ) -> PackedInt4Linear:
        """Quantise `linear` (asymmetric, per group of 32 along the input) and pack it."""
        compute_dtype = compute_dtype or torch.bfloat16
        source = (weight if weight is not None else linear.weight).detach().float()
        rows, columns = source.shape
        groups = source.reshape(rows, columns // GROUP, GROUP)
        low, high = groups.amin(-1), groups.amax(-1)
        scale = ((high - low) / 15).clamp_min(1e-12)
        codes = ((groups - low[..., None]) / scale[..., None]).round().clamp(0, 15)
        layer = cls(columns, rows, compute_dtype)
        layer.packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(
            codes.reshape(rows, columns).to(torch.int32), 1
        )
        # The kernel computes (code - 8) * scale + zero, so zero = low + 8 * scale.
        layer.scales_and_zeros = (
            torch.stack([scale, low + 8 * scale], -1).transpose(0, 1).contiguous()
        ).to(compute_dtype)
        if getattr(linear, "bias", None) is not None:
            layer.bias = torch.nn.Parameter(linear.bias.detach().to(compute_dtype), False)
        return layer

    def dequantise(self) -> Any:
        """The weights as a [out, in] matrix in the compute dtype."""
        codes = _unpack(self.packed, self.out_features, self.in_features)
        scale = self.scales_and_zeros[..., 0].transpose(0, 1)  # [out, groups]
        zero = self.scales_and_zeros[..., 1].transpose(0, 1)
        grouped = codes.reshape(self.out_features, -1, GROUP).to(self.compute_dtype) - 8
        weights = grouped * scale[..., None] + zero[..., None]
        return weights.reshape(self.out_features, self.in_features)

    def forward(self, x: Any) -> Any:
        shape = x.shape
        flat = x.reshape(-1, self.in_features).to(self.compute_dtype)
        if flat.shape[0] <= KERNEL_MAX_TOKENS:
            out = torch.ops.aten._weight_int4pack_mm_for_cpu(
                flat, self.packed, GROUP, self.scales_and_zeros
            )
            if self.bias is not None:
                out = out + self.bias
        else:
            out = torch.nn.functional.linear(flat, self.dequantise(), self.bias)
        return out.reshape(*shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int4 g{GROUP}"


def _unpack(packed: Any, rows: int, columns: int, block: int | None = None) -> Any:
    """Codes [rows, columns] from torch's CPU int4 packing.

    Within each block of rows the packing stores, for every input column, block/2 bytes whose low
    nibbles are the block's first half of rows and high nibbles its second half. The block is 64
    rows where torch packs for AVX512 and 32 where it packs for AVX2 (found by `_packing_rows`).
    """
    block = block or _packing_rows()
    blocks = packed.reshape(rows // block, columns, block // 2)
    codes = torch.cat([blocks & 0x0F, blocks >> 4], dim=-1)  # [blocks, columns, block]
    return codes.transpose(1, 2).reshape(rows, columns)


@functools.cache
def _packing_rows() -> int:
    """The row block of this platform's packing: the one that unpacks known codes (0: none)."""
    codes = torch.randint(0, 16, (BLOCK_ROWS, 64), generator=torch.Generator().manual_seed(0))
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes.to(torch.int32), 1)
    for block in (64, 32):
        if torch.equal(_unpack(packed, BLOCK_ROWS, 64, block).to(codes.dtype), codes):
            return block
    return 0


def can_pack(linear: Any) -> bool:
    return linear.in_features % GROUP == 0 and linear.out_features % BLOCK_ROWS == 0


def pack_model(
    model: Any, compute_dtype: Any, *, skip: tuple[str, ...] = ("lm_head", "output_layer")
) -> int:
    """Replace the model's Linear layers by PackedInt4Linear in place; returns how many.

    The output head stays in `compute_dtype`: the GGUF files kbqa meets keep it at 8 bits or more
    (SmolLM2's is Q8_0), and at 4 bits a small model's token choice suffers first.
    """
    replaced = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if (
                isinstance(child, torch.nn.Linear)
                and can_pack(child)
                and not any(full == s or full.endswith(f".{s}") for s in skip)
            ):
                setattr(
                    module, child_name, PackedInt4Linear.from_linear(child, None, compute_dtype)
                )
                replaced += 1
    return replaced
