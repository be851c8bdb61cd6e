"""What a DP-SGD training runs and what the accountant prices, from one definition."""

from __future__ import annotations

__all__ = ["SAMPLINGS"]

# How batches are drawn: "poisson" (each example joins each step independently, what the
# accountant's amplification assumes) or "shuffle" (fixed-size batches of a shuffled set).
SAMPLINGS: tuple[str, ...] = ("poisson", "shuffle")
