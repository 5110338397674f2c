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


class StepTable:
    """`step_lookup` for one step function queried many times, without a binary search per query.

    The knots' range is cut into equal buckets; the table holds, for each bucket, how many knots lie at or
    before its start. A query starts from its bucket's count and steps over the few knots inside the bucket
    that are still at or before it (at most the most crowded bucket's knots, vectorised over all queries), so
    the answer is exactly step_lookup's. The buckets are sized so the table has about `buckets` entries.
    """

    def __init__(self, knots, values, *, before: float = 1.0, buckets: int = 1 << 20):
        self.knots = np.asarray(knots, dtype=float)
        values = np.asarray(values, dtype=float)
        if self.knots.ndim != 1 or self.knots.shape != values.shape:
            raise ValueError("knots and values must be 1-D arrays of the same length")
        self.padded = np.concatenate([[before], values])
        self.sentinel = np.concatenate([self.knots, [np.inf]])  # the knot after the last is never reached
        self.start = float(self.knots[0]) if self.knots.size else 0.0
        span = float(self.knots[-1]) - self.start if self.knots.size else 0.0
        self.width = span / (buckets - 1) if span > 0 else 1.0
        n_buckets = int(span / self.width) + 1 if self.knots.size else 1
        starts = self.start + self.width * np.arange(n_buckets)
        self.counts = np.searchsorted(self.knots, starts, side="right")
        bucket_of_knot = np.minimum(((self.knots - self.start) / self.width).astype(np.int64), n_buckets - 1)
        self.crowd = int(np.bincount(bucket_of_knot, minlength=n_buckets).max()) if self.knots.size else 0

    def __call__(self, query) -> np.ndarray:
        q = np.asarray(query, dtype=float)
        if not self.knots.size:
            return np.full(q.shape, self.padded[0])
        flat = q.ravel()
        bucket = np.clip((flat - self.start) / self.width, 0, self.counts.size - 1).astype(np.int64)
        idx = self.counts[bucket]
        idx[flat < self.start] = 0  # before the first knot: nothing counted
        # step over the knots inside the bucket that are still at or before the query: one pass over every
        # query, then only over the few that moved
        todo = np.flatnonzero(self.sentinel[idx] <= flat)
        while todo.size:
            idx[todo] += 1
            todo = todo[self.sentinel[idx[todo]] <= flat[todo]]
        return self.padded[idx].reshape(q.shape)
