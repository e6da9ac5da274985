"""The network's tasks as a dask graph layer that makes each task when asked for it, never all at once.

A whole-slide input has hundreds of thousands of tiles: a graph holding a task per tile took seconds and
hundreds of megabytes to build before anything was computed, and again on every slice a viewer asked
for. :class:`TileLayer` stores only the per-axis block plans and builds the task of a block on demand;
culling (what dask does before computing a slice) touches only the blocks asked for.

>>> layer = TileLayer("x", [[0, 1, 2], [0, 1]], lambda idx: ("task", idx))
>>> len(layer), layer[("x", 2, 1)], ("x", 3, 0) in layer
(6, ('task', (2, 1)), False)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from dask.highlevelgraph import Layer, MaterializedLayer


class TileLayer(Layer):
    """Keys ``(name, *block_index)`` over ``plans`` (one list of block plans per axis); the task of a
    block is ``make(block_index)``; the outside keys a task reads are found in the task itself."""

    # every task is a plain (function, *args) tuple; saying so here keeps dask from looking at each
    has_legacy_tasks = True

    def __init__(self, name: str, plans: Sequence[Sequence], make: Callable):
        super().__init__()
        self.name = name
        self.numblocks = tuple(len(p) for p in plans)
        self.make = make

    def _index(self, key):
        if not (isinstance(key, tuple) and len(key) == len(self.numblocks) + 1 and key[0] == self.name):
            return None
        idx = key[1:]
        if not all(isinstance(i, (int, np.integer)) and 0 <= i < n for i, n in zip(idx, self.numblocks)):
            return None
        return tuple(int(i) for i in idx)

    def __contains__(self, key) -> bool:
        return self._index(key) is not None

    def __getitem__(self, key):
        idx = self._index(key)
        if idx is None:
            raise KeyError(key)
        return self.make(idx)

    def __iter__(self) -> Iterator:
        return ((self.name, *idx) for idx in np.ndindex(*self.numblocks))

    def __len__(self) -> int:
        return math.prod(self.numblocks)

    def is_materialized(self) -> bool:
        return False

    def get_output_keys(self):
        return self.keys()

    def cull(self, keys, all_hlg_keys):
        """Only the tasks of ``keys`` in this layer, each with the outside keys it reads (dask lists
        ``all_hlg_keys`` because this layer says its tasks are legacy tuples)."""
        from dask.core import keys_in_tasks

        out, deps = {}, {}
        for key in keys:
            if key in self:
                task = out[key] = self[key]
                deps[key] = keys_in_tasks(all_hlg_keys, [task])
        return MaterializedLayer(out, annotations=self.annotations), deps
