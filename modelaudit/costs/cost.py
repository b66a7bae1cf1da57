"""Cost: what one node costs, as a small frozen dataclass, and the context a rule sees."""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import NodeProto

from modelaudit.shapes.tensor import Shape, TensorInfo

__all__ = ["Cost", "NodeContext", "Unresolved", "dims_str"]


@dataclass(frozen=True, slots=True)
class Cost:
    """Params and non-trainable elements are filled in by the weight walk; rules give the rest."""

    params: int = 0
    non_trainable: int = 0
    macs: int = 0
    flops: int = 0
    formula: str = ""


class Unresolved(Exception):
    """A rule needed a dimension that is not known statically."""

    def __init__(self, tensor: str, shape: Shape | None) -> None:
        self.tensor = tensor
        self.shape = shape
        self.dims = (
            ["?"] if shape is None else [d if isinstance(d, str) else "?" for d in shape if not isinstance(d, int)]
        )
        super().__init__(f"{tensor}: shape {dims_str(shape)} is not fully known")


def dims_str(shape: Shape | None) -> str:
    """`1x3x224x224`, `batchx3x224x224`, `?` for an unknown rank, `scalar` for rank 0. A dim
    written as an expression is put in parentheses and the dims joined by `×`, which no expression
    holds: `batch×16×(floor(height/2 - 1/2) + 1)`, never `batchx16xfloor(height/2 - 1/2) + 1x…`."""
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "scalar"
    dims = ["?" if d is None else str(d) for d in shape]
    if all(not isinstance(d, str) or d.isidentifier() for d in shape):  # ints, None and names
        return "x".join(dims)
    return "×".join(d if not isinstance(s, str) or s.isidentifier() else f"({d})" for d, s in zip(dims, shape))


@dataclass
class NodeContext:
    """What a rule sees: op, opset, attributes (schema defaults filled), tensor infos, constants.
    `attrs` may be given, or is read from the node (with the schema's defaults) on first use."""

    node: NodeProto
    index: int
    opset: int
    given_attrs: dict[str, Any] | None
    inputs: list[TensorInfo | None]
    outputs: list[TensorInfo | None]
    given_constants: frozenset[int] | None = None
    given_values: list[np.ndarray | None] | None = None
    lookup: tuple[dict[str, np.ndarray], Container[str]] | None = field(
        default=None, repr=False
    )  # (values by tensor, constant tensor names)

    @property
    def values(self) -> list[np.ndarray | None]:
        """Known constant values of the inputs (small integer tensors: shapes, axes, pads)."""
        if self.given_values is None:
            known = self.lookup[0] if self.lookup else {}
            self.given_values = [known.get(n) if n else None for n in self.node.input]
        return self.given_values

    @property
    def constant_inputs(self) -> frozenset[int]:
        """Indices of the inputs that are weights or other constants."""
        if self.given_constants is None:
            constant = self.lookup[1] if self.lookup else set()
            self.given_constants = frozenset(i for i, n in enumerate(self.node.input) if n in constant)
        return self.given_constants

    @property
    def attrs(self) -> dict[str, Any]:
        if self.given_attrs is None:
            from modelaudit.load.attributes import node_attributes

            self.given_attrs = node_attributes(self.node, self.opset)
        return self.given_attrs

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def domain(self) -> str:
        return self.node.domain

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and bool(self.node.input[i])

    def attr(self, name: str, default: Any = None) -> Any:
        value = self.attrs.get(name)
        return default if value is None else value

    def in_shape(self, i: int) -> Shape:
        """The input's shape; its dims may be symbolic (str) or unknown (None)."""
        return _shape(self.inputs, self.node.input, i)

    def out_shape(self, i: int = 0) -> Shape:
        return _shape(self.outputs, self.node.output, i)

    def in_dims(self, i: int) -> tuple[int, ...]:
        """The input's shape, every dim a known int, or Unresolved."""
        return _dims(self.inputs, self.node.input, i)

    def out_dims(self, i: int = 0) -> tuple[int, ...]:
        return _dims(self.outputs, self.node.output, i)

    def in_numel(self, i: int) -> int:
        return math.prod(_dims(self.inputs, self.node.input, i))

    def out_numel(self, i: int = 0) -> int:
        return math.prod(_dims(self.outputs, self.node.output, i))


# The shape readers are module functions, called straight from the accessors: rules ask for
# shapes tens of thousands of times per model, and each Python call level costs per node.
def _shape(infos: list[TensorInfo | None], names: Sequence[str], i: int) -> Shape:
    info = infos[i] if i < len(infos) else None
    if info is None or info.shape is None:
        raise Unresolved(names[i] if i < len(names) else f"#{i}", None)
    return info.shape


def _dims(infos: list[TensorInfo | None], names: Sequence[str], i: int) -> tuple[int, ...]:
    info = infos[i] if i < len(infos) else None
    shape = None if info is None else info.shape
    if shape is None:
        raise Unresolved(names[i] if i < len(names) else f"#{i}", None)
    if str in map(type, shape) or None in shape:
        raise Unresolved(names[i], shape)
    return shape  # type: ignore[return-value]  # every dim is an int: checked just above
