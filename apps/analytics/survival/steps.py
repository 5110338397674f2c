"""Evaluating right-continuous step functions (survival curves) on many points at once."""

from __future__ import annotations

import numpy as np


def step_lookup(
    knots: np.ndarray, values: np.ndarray, query: np.ndarray, *, before: float = 1.0
) -> np.ndarray:
    """Value of a right-continuous step function at each query point.

    `knots` are increasing jump times and `values[i]` holds on [knots[i], knots[i+1]); before the first knot
    the function equals `before` (1 for a survival curve). Works on query arrays of any shape.
    """
    knots = np.asarray(knots, dtype=float)
    values = np.asarray(values, dtype=float)
    if knots.ndim != 1 or knots.shape != values.shape:
        raise ValueError("knots and values must be 1-D arrays of the same length")
    idx = np.searchsorted(knots, np.asarray(query, dtype=float), side="right") - 1
    padded = np.concatenate([[before], values])
    return padded[idx + 1]
