"""A node's attributes: with the op schema's defaults filled in (onnx.defs, never hard-coded), and its subgraphs."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Protocol

from onnx import AttributeProto, GraphProto, defs, helper

__all__ = ["HasAttributes", "node_attributes", "schema_defaults", "body_graphs"]


class HasAttributes(Protocol):
    """A NodeProto, or a view of one that answers for its attributes."""

    @property
    def attribute(self) -> Sequence[AttributeProto]: ...


@cache
def schema_defaults(op_type: str, domain: str, opset: int) -> dict:
    try:
        schema = defs.get_schema(op_type, max(opset, 1), domain)
    except Exception:  # unknown op, domain or version: the node's own attributes are all we have
        return {}
    return {
        name: helper.get_attribute_value(a.default_value)
        for name, a in schema.attributes.items()
        if a.default_value.type
    }


def node_attributes(node, opset: int) -> dict:
    attrs = dict(schema_defaults(node.op_type, node.domain if node.domain != "ai.onnx" else "", opset))
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        attrs[a.name] = value.decode() if isinstance(value, bytes) else value
    return attrs


def body_graphs(node: HasAttributes) -> list[tuple[str, GraphProto]]:
    """(attribute name, graph) for each graph attribute: then_branch, else_branch, body, `name[i]`
    for each graph of a GRAPHS attribute."""
    out = []
    for attr in node.attribute:
        if attr.type == AttributeProto.GRAPH:
            out.append((attr.name, attr.g))
        elif attr.type == AttributeProto.GRAPHS:
            out.extend((f"{attr.name}[{i}]", g) for i, g in enumerate(attr.graphs))
    return out
