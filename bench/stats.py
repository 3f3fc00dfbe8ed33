"""Shared by the benchmarks."""
from __future__ import annotations

from typing import Optional


def percentile(values: list[float], q: float) -> Optional[float]:
    """The q-quantile by nearest rank (None for no values)."""
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]
