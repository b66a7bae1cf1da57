"""TensorInfo: what is known statically about one tensor (shape of int | str | None per dim, dtype)."""

from __future__ import annotations

import math
from typing import NamedTuple

from onnx import TensorProto

__all__ = ["Dim", "Shape", "TensorInfo", "tensor_numel", "pack_infos", "unpack_infos"]

Dim = int | str | None  # a known size, a symbolic name (or expression), or unknown
Shape = tuple[Dim, ...]  # a tensor's dims; an unknown rank is `None` in place of the tuple


class TensorInfo(NamedTuple):
    """What is known statically about one tensor: name, shape (None = rank unknown), dtype.
    A NamedTuple: hundreds of thousands are made per model, and a tuple is the cheapest record."""

    name: str
    shape: Shape | None
    dtype: int = 0
    constant: bool = False

    @property
    def known(self) -> bool:
        shape = self.shape
        return shape is not None and None not in shape and str not in map(type, shape)


def tensor_numel(tensor: TensorProto) -> int:
    return math.prod(tensor.dims)


def pack_infos(infos: dict[str, TensorInfo]) -> tuple[list[str], list[int], list[tuple]]:
    """The infos as (names, an index per name, the distinct (shape, dtype, constant) records): a
    transformer's tensors share a few hundred records, and three flat lists pickle far faster than
    a tuple per tensor (load/forked.py hands them between processes; docs/performance.md)."""
    index: dict[tuple, int] = {}
    names, which = [], []
    for name, info in infos.items():
        record = info[1:]
        i = index.get(record)
        if i is None:
            i = index[record] = len(index)
        names.append(name)
        which.append(i)
    return names, which, list(index)


def unpack_infos(packed: tuple[list[str], list[int], list[tuple]]) -> dict[str, TensorInfo]:
    names, which, records = packed
    return {name: TensorInfo(name, *records[i]) for name, i in zip(names, which)}
