"""The model catalogue and `kbqa models`: published configurations, parameter counts, memory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kbqa.cli import main
from kbqa.llm.catalog import CATALOG, fits, get_spec


def test_parameter_counts_match_published_figures_within_3_percent() -> None:
    checked = 0
    for spec in CATALOG:
        if spec.published_params:
            assert abs(spec.params / spec.published_params - 1) < 0.03, spec.name
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    ("name", "hidden", "layers", "heads", "vocab", "max_length"),
    [
        ("chatglm-6b", 4096, 28, 32, 130528, 2048),
        ("llama-7b", 4096, 32, 32, 32000, 2048),
        ("bloom-176b", 14336, 70, 112, 250880, 2048),
        ("chinese-llama-7b", 4096, 32, 32, 49953, 2048),
    ],
)
def test_published_configurations(
    name: str, hidden: int, layers: int, heads: int, vocab: int, max_length: int
) -> None:
    spec = get_spec(name)
    assert spec is not None
    assert (spec.hidden, spec.layers, spec.heads, spec.vocab, spec.max_length) == (
        hidden,
        layers,
        heads,
        vocab,
        max_length,
    )


def test_family_sizes_and_derivatives_are_listed() -> None:
    names = {s.name for s in CATALOG}
    for size in ("7b", "13b", "33b", "65b"):
        assert f"llama-{size}" in names
    for size in ("560m", "1b1", "1b7", "3b", "7b1", "176b"):
        assert f"bloom-{size}" in names
    for derived in (
        "alpaca-7b",
        "vicuna-7b",
        "belle-7b-2m",
        "bloomz-7b1-mt",
        "chatglm2-6b",
        "chatglm3-6b",
        "glm-4-9b-chat",
    ):
        assert derived in names
    assert get_spec("THUDM/chatglm-6b").name == "chatglm-6b"  # hub names resolve too


def test_chatglm_6b_memory_within_20_percent_of_published_minimum() -> None:
    spec = get_spec("chatglm-6b")
    estimate = spec.memory_gb()
    for precision, published in {"fp16": 13, "int8": 10, "int4": 6}.items():
        assert abs(estimate[precision] / published - 1) <= 0.20, (precision, estimate[precision])
    assert estimate["fp16"] > estimate["int8"] > estimate["int4"]


def test_fits_picks_the_most_precise_precision_that_fits() -> None:
    verdict = {spec.name: precision for spec, precision in fits(8)}
    assert verdict["chatglm-6b"] == "int4"
    assert verdict["llama-7b"] == "int4"
    assert verdict["bloom-3b"] == "fp16"
    assert verdict["bloom-176b"] is None
    assert verdict["chatglm-6b-int8"] is None  # pre-quantised: int8 only, and that needs 8.7 GB


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {item["name"]: item for item in data}
    for name in ("chatglm-6b", "llama-7b", "bloom-176b", "smollm2-135m-instruct"):
        item = by_name[name]
        assert isinstance(item["params"], int | float)
        assert set(item["memory_gb"]) >= {"fp16", "int8", "int4"}
        assert item["family"]
    assert abs(by_name["bloom-176b"]["params"] / 176.2e9 - 1) < 0.03


def test_models_fits_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--fits", "8"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("chatglm-6b "))
    assert "int4" in line
    assert "bloom-176b" in out.split("Too big even at INT4:")[1]


def test_models_fits_names_a_prequantised_checkpoints_own_precision(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # chatglm-6b-int8 is int8 only (THUDM quantised it): "too big even at INT4" would be wrong.
    assert main(["models", "--fits", "8"]) == 0
    out = capsys.readouterr().out
    int4_line = next(line for line in out.splitlines() if line.startswith("Too big even at INT4:"))
    own_line = next(line for line in out.splitlines() if line.startswith("Too big at their own"))
    assert "chatglm-6b-int8" not in int4_line
    assert "chatglm-6b-int8 (int8, " in own_line
    assert "bloom-176b" not in own_line


def test_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "chatglm-6b" in out and "6.17B" in out and "bloom-176b" in out


def test_cli_stays_import_light() -> None:
    code = (
        "import sys; from kbqa.cli import build_parser; build_parser(); "
        "import kbqa.cli.models, kbqa.llm.catalog, kbqa.llm.registry; "
        "print(sorted(m for m in ('torch', 'transformers', 'langchain_core') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
