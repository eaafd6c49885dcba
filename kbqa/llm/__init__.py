"""LLM backends, chosen in one registry: `kbqa.llm.registry.load_llm(settings) -> ChatBackend`."""

import os

# Set before torch loads its OpenMP runtime: idle OpenMP threads then sleep instead of spinning.
# On a 2-core machine shared with the embedder, the UI or other processes, spinning threads starved
# each other: dense fp32 decoding of SmolLM2 went from 2.5 to 10.7 tokens/s (docs/bench/llm.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
