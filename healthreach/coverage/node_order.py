"""Nodes in spatial order: a Hilbert curve through their coordinates, and a CSR graph renumbered by it.

A search on a road network reads nodes near each other one after another. Numbered along a Hilbert
curve, nodes near each other on the ground lie near each other in memory, so the caches hold what a
search reads next. OSM ids, and the networks numbered by them, follow editing history, not space.
"""
from __future__ import annotations

import numba
import numpy as np

_HILBERT_BITS = 16  # cells per axis of the curve: 6 m over a province of 400 km


@numba.njit(nogil=True, cache=True)
def _hilbert_keys(xy: np.ndarray) -> np.ndarray:
    """Position of each point along a Hilbert curve over the points' bounding square (int64)."""
    side = 1 << _HILBERT_BITS
    x0, y0 = xy[:, 0].min(), xy[:, 1].min()
    span = max(xy[:, 0].max() - x0, xy[:, 1].max() - y0)
    scale = (side - 1) / span if span > 0 else 0.0
    keys = np.empty(len(xy), np.int64)
    for i in range(len(xy)):
        x, y = np.int64((xy[i, 0] - x0) * scale), np.int64((xy[i, 1] - y0) * scale)
        d, s = 0, side >> 1
        while s > 0:
            rx, ry = np.int64((x & s) > 0), np.int64((y & s) > 0)
            d += s * s * ((3 * rx) ^ ry)
            if ry == 0:  # turn the quadrant so that the curve runs on unbroken
                if rx == 1:
                    x, y = side - 1 - x, side - 1 - y
                x, y = y, x
            s >>= 1
        keys[i] = d
    return keys


@numba.njit(nogil=True, cache=True)
def _fill(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, order: np.ndarray, rank: np.ndarray,
          new_ptr: np.ndarray, new_idx: np.ndarray, new_data: np.ndarray) -> None:
    k = 0
    new_ptr[0] = 0
    for r in range(len(order)):
        o = order[r]
        for e in range(indptr[o], indptr[o + 1]):  # the row's entries in their stored order
            new_idx[k], new_data[k] = rank[indices[e]], data[e]
            k += 1
        new_ptr[r + 1] = k


def hilbert_order(xy: np.ndarray) -> np.ndarray:
    """Node ids (uint32) in the order of a Hilbert curve through their coordinates `xy` (shape
    (nodes, 2), any planar unit); ties keep id order; nodes without finite coordinates start the curve."""
    xy = np.asarray(xy, dtype=np.float64)
    known = np.isfinite(xy).all(axis=1)
    if not known.all():
        xy = np.where(known[:, None], xy, xy[known].min(axis=0) if known.any() else 0.0)
    return np.argsort(_hilbert_keys(xy), kind="stable").astype(np.uint32)


def renumbered(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
               order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The CSR graph (indptr, indices, data) with node `order[i]` renumbered i, and `rank`, each old
    node's new id (uint32, as are the new indptr and indices; fewer than 2**32 nodes and entries)."""
    rank = np.empty(len(order), np.uint32)
    rank[order] = np.arange(len(order), dtype=np.uint32)
    new = np.empty(len(indptr), np.uint32), np.empty(len(indices), np.uint32), np.empty(len(data))
    _fill(indptr, indices, data, order, rank, *new)
    return *new, rank
