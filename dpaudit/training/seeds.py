"""Seeds for the many models of an audit, derived from one user seed and a role name."""

from __future__ import annotations

import hashlib
import json

__all__ = ["derive_seed"]


def derive_seed(seed: int, *parts: object) -> int:
    """A reproducible 31-bit seed for a named role (e.g. ("target",)), independent of order."""
    text = json.dumps([int(seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") >> 1
