"""Local functions inlined for costing: each call becomes the function's nodes, named under the call.

Exporters (torch's `export_modules_as_functions`, the dynamo exporter, onnxscript) write model-local
FunctionProtos; a call is a node whose (domain, op_type) names one. Costing needs the nodes inside,
so every call is replaced by a renamed copy of the body, nested calls and subgraphs included. The
size of the expansion is counted from the call graph before anything is copied: functions that
each call the next one twice, 40 deep, would expand to 2^40 nodes (and hang onnx's own shape
inference), so an expansion past MAX_INLINED_NODES is refused with exit 5.
"""

from __future__ import annotations

import re

from onnx import AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto

from modelaudit.errors import ResourceLimitError

from .attributes import body_graphs

__all__ = ["MAX_INLINED_NODES", "MAX_CALL_DEPTH", "inline_functions", "inlined_size"]

MAX_INLINED_NODES = 1_000_000  # five times the largest real graph we know; the audit stays under a minute
MAX_CALL_DEPTH = 64  # calls nested deeper than this are refused (module trees are ~10 deep)

Key = tuple[str, str, str]


def _key(domain: str, name: str, overload: str = "") -> Key:
    return ("" if domain == "ai.onnx" else domain, name, overload)


def _call_key(node: NodeProto) -> Key:
    return _key(node.domain, node.op_type, node.overload)


class _Sizes:
    """Nodes an expansion would produce, per function, counted without expanding anything."""

    def __init__(self, functions: dict[Key, FunctionProto]):
        self.functions = functions
        self.memo: dict[Key, int] = {}

    def nodes(self, nodes, depth: int) -> int:
        total = 0
        for node in nodes:
            key = _call_key(node)
            if key in self.functions:
                total += self.function(key, depth + 1)
            else:
                total += 1 + sum(self.nodes(g.node, depth) for _, g in body_graphs(node))
            if total > MAX_INLINED_NODES:  # stop counting: the exact figure does not matter any more
                return total
        return total

    def function(self, key: Key, depth: int) -> int:
        if key not in self.memo:
            if depth > MAX_CALL_DEPTH:
                raise ResourceLimitError(
                    f"local function calls are nested more than {MAX_CALL_DEPTH} deep "
                    f"(at {key[0]}::{key[1]}); modelaudit refuses to expand them"
                )
            self.memo[key] = self.nodes(self.functions[key].node, depth)
        return self.memo[key]


def _functions(model: ModelProto) -> dict[Key, FunctionProto]:
    return {_key(f.domain, f.name, f.overload): f for f in model.functions}


def inlined_size(model: ModelProto) -> int:
    """Nodes of the main graph (subgraphs included) once every local function call is expanded."""
    return _Sizes(_functions(model)).nodes(model.graph.node, 0)


class _Call:
    """One expansion of a function body: formal names mapped to the call's, the rest prefixed."""

    def __init__(self, fn: FunctionProto, call: NodeProto, prefix: str, attrs: dict[str, AttributeProto]):
        self.names = {formal: actual for formal, actual in zip(fn.input, call.input)}
        self.names.update({formal: actual for formal, actual in zip(fn.output, call.output) if actual})
        self.prefix = prefix
        self.attrs = attrs
        self.defaults = {a.name: a for a in fn.attribute_proto}

    def name(self, name: str) -> str:
        if not name:
            return name
        mapped = self.names.get(name)
        return mapped if mapped is not None else f"{self.prefix}{name}"

    def attribute(self, attr: AttributeProto) -> AttributeProto | None:
        """A reference to one of the function's attributes becomes the call's value (or the default)."""
        source = self.attrs.get(attr.ref_attr_name) or self.defaults.get(attr.ref_attr_name)
        if source is None:
            return None  # not given and no default: the op's own default applies
        value = AttributeProto()
        value.CopyFrom(source)
        value.name = attr.name
        return value

    def graph(self, graph: GraphProto) -> None:
        """Renames a subgraph of the body in place (its own names too: they are the body's)."""
        for items in (graph.input, graph.output, graph.value_info, graph.initializer):
            for item in items:
                item.name = self.name(item.name)
        for sparse in graph.sparse_initializer:
            sparse.values.name = self.name(sparse.values.name)
            sparse.indices.name = self.name(sparse.indices.name)


class _Inliner:
    def __init__(self, model: ModelProto):
        self.functions = _functions(model)
        self.calls = 0
        self.used: set[Key] = set()
        self.segments: dict[tuple[str, str], int] = {}  # (scope, function) -> its calls named after it there

    def nodes(self, nodes, call: _Call | None, scope: str, depth: int) -> list[NodeProto]:
        """`nodes` with every call expanded; inside a body (`call` given) every name is renamed."""
        out: list[NodeProto] = []
        for index, original in enumerate(nodes):
            node = NodeProto()
            node.CopyFrom(original)
            if call is not None:
                self._rename(node, call)
                node.name = f"{scope}/{original.name or f'{original.op_type}_{index}'}"
            key = _call_key(node)
            if key in self.functions:
                out.extend(self.expand(node, key, depth + 1, scope, original.name))
                continue
            for _, graph in body_graphs(node):
                if call is not None:
                    call.graph(graph)
                expanded = self.nodes(graph.node, call, f"{node.name}", depth)
                del graph.node[:]
                graph.node.extend(expanded)
            out.append(node)
        return out

    def _rename(self, node: NodeProto, call: _Call) -> None:
        node.input[:] = [call.name(n) for n in node.input]
        node.output[:] = [call.name(n) for n in node.output]
        for i in reversed(range(len(node.attribute))):  # in place: a Constant's tensor is not copied again
            attr = node.attribute[i]
            if attr.ref_attr_name:
                value = call.attribute(attr)
                if value is None:
                    del node.attribute[i]
                else:
                    attr.CopyFrom(value)

    def expand(self, node: NodeProto, key: Key, depth: int, parent: str, local: str) -> list[NodeProto]:
        fn = self.functions[key]
        self.used.add(key)
        self.calls += 1
        scope = self.scope(fn.name, parent, local)
        call = _Call(fn, node, f"{scope}#{self.calls}/", {a.name: a for a in node.attribute})
        return self.nodes(fn.node, call, scope, depth)

    def scope(self, function: str, parent: str, local: str) -> str:
        """The module scope a call's nodes are named under (graph/modules.py reads it back): a name
        with scopes names its module with them (TorchScript's `/h.0/GPT2Block` is module `h.0`);
        otherwise the call is a module of its own under `parent`, named by the call's name or, where
        an exporter made that up (onnxscript's `n0`, TorchScript's `GPT2MLP_71`), by the function's:
        `Block`, then `Block#2` for the next call of it there."""
        if "/" in local:
            return f"{parent}/{local.rpartition('/')[0]}" if parent else local.rpartition("/")[0]
        segment = local
        if not local or re.fullmatch(rf"n\d+|{re.escape(function)}_\d+", local):
            calls = self.segments[(parent, function)] = self.segments.get((parent, function), 0) + 1
            segment = function if calls == 1 else f"{function}#{calls}"
        return f"{parent}/{segment}" if parent else segment


def inline_functions(model: ModelProto) -> int:
    """Expands every call of a model-local function in place (main graph and subgraphs); returns
    how many calls were expanded. Raises ResourceLimitError before copying anything when the
    expansion would pass MAX_INLINED_NODES nodes."""
    if not model.functions:
        return 0
    size = inlined_size(model)
    if size > MAX_INLINED_NODES:
        raise ResourceLimitError(
            f"expanding the model's local functions would make more than "
            f"{MAX_INLINED_NODES:,} nodes (each call expands its function's body, "
            "nested calls multiply); modelaudit refuses to expand them"
        )
    inliner = _Inliner(model)
    expanded = inliner.nodes(model.graph.node, None, "", 0)
    if not inliner.calls:
        return 0
    del model.graph.node[:]
    model.graph.node.extend(expanded)
    domains = {o.domain for o in model.opset_import}
    for key in inliner.used:  # a body may use a domain the model does not import itself
        for opset in inliner.functions[key].opset_import:
            if opset.domain not in domains:
                model.opset_import.add().CopyFrom(opset)
                domains.add(opset.domain)
    remaining = [f for f in model.functions if _key(f.domain, f.name, f.overload) not in inliner.used]
    del model.functions[:]
    model.functions.extend(remaining)
    return inliner.calls
