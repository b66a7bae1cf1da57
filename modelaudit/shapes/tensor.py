"""TensorInfo: what is known statically about one tensor (shape of int | str | None per dim, dtype)."""

from __future__ import annotations

import math
from typing import NamedTuple

from onnx import TensorProto

__all__ = ["Dim", "Shape", "TensorInfo", "tensor_numel"]

Dim = "int | str | None"


Shape = "tuple[int | str | None, ...] | None"


class TensorInfo(NamedTuple):
    """What is known statically about one tensor: name, shape (None = rank unknown), dtype.
    A NamedTuple: hundreds of thousands are made per model, and a tuple is the cheapest record."""

    name: str
    shape: tuple | None
    dtype: int = 0
    constant: bool = False

    @property
    def known(self) -> bool:
        shape = self.shape
        return shape is not None and None not in shape and str not in map(type, shape)


def tensor_numel(tensor: TensorProto) -> int:
    return math.prod(tensor.dims)
