"""Module paths: the block of every node, read from whichever naming scheme its exporter wrote.

A node's module path is the chain of modules it belongs to, outermost first, as "/"-joined
segments ("layer1/layer1.0/conv1"; "" at the top level). Every view of a model that groups nodes
into blocks (`--depth`, `--by block`, `compare`, the HTML chart, `explain` of a module) groups by
it. The schemes, as docs/cli.md describes them:

- names (torch's TorchScript exporter, tf2onnx, onnxruntime's optimized graphs, local functions
  as the load inlines them): `/`-separated scopes ending with the op's own segment,
  `/layer1/layer1.0/conv1/Conv`, `model/conv2d/Conv2D`;
- torch's dynamo exporter: node metadata `pkg.torch.onnx.name_scopes`;
- paddle2onnx: `p2o.Conv.0` names nothing, so each node takes the Paddle layer whose variable
  its group of nodes writes (`conv2d_450.tmp_0`), one level deep.
"""

from __future__ import annotations

import ast
import re
from itertools import islice
from operator import attrgetter

from .links import NodeView

__all__ = ["module_paths", "scheme_of", "unqualified", "TORCH_SCOPES", "REWRITE_RULE"]

TORCH_SCOPES = "pkg.torch.onnx.name_scopes"  # the module of each fx node: ['', 'layer1', 'layer1.0', …, op]
REWRITE_RULE = "pkg.onnxscript.rewriter.rule_name"  # the exporter's optimizer rewrote (and maybe fused) it

# ops whose computation is owned by the module of their weight (input 1) when a rewrite fused them
_WEIGHTED = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
_FUSION = re.compile(r"[A-Za-z]+Fusion")  # onnxruntime appends "/MatMulScaleFusion/" to a fused node's name
_CALL_SUFFIX = re.compile(r"(.+)_\d+")  # TorchScript's later calls of a module: relu, relu_1, relu_2
_TF_WRAPPERS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
_PADDLE_NODE = re.compile(r"p2o\.[A-Za-z]\w*\.\d+|[A-Za-z]\w*@\d+")  # paddle2onnx 1.x/2.x, and 0.x
_PADDLE_VAR = re.compile(r"(.+)\.tmp_\d+|p2o\.(pd_op\.\w+\.\d+)\.\d+")  # a Paddle op's output, old and PIR
_PADDLE_PARAM = re.compile(r"(\w+)\.[wb]_\d+")  # a Paddle layer's parameter: conv2d_394.w_0


def unqualified(qualified: str) -> str:
    """A torch module's scope segment as TorchScript writes it: its qualified name from the last
    atom that is not a number (`layer1.0.conv1` -> `conv1`, `layer1.0` -> `layer1.0`)."""
    atoms = qualified.split(".")
    for i in range(len(atoms) - 1, -1, -1):
        if not atoms[i].isdigit():
            return ".".join(atoms[i:])
    return qualified


def scheme_of(views: list[NodeView], producer: str) -> str:
    """`dynamo`, `paddle` or `names`: which scheme the model's nodes follow (`producer`: the
    model's producer_name). torch's dynamo exporter tags every node it writes: a few hundred nodes
    spread over the graph tell, without a scan of every node's metadata."""
    step = max(1, len(views) // 256)
    if any(p.key == TORCH_SCOPES for v in views[::step] for p in v.proto.metadata_props):
        return "dynamo"
    if producer == "PaddlePaddle":
        return "paddle"
    sample = [name for name in islice((v.name for v in views), 256) if name][:32]  # paddle2onnx 2.x leaves it empty
    if sample and sum(1 for name in sample if _PADDLE_NODE.fullmatch(name)) * 2 > len(sample):
        return "paddle"
    return "names"


def module_paths(views: list[NodeView], producer: str) -> list[str]:
    """Each node's module path, by node index (`producer`: the model's producer_name)."""
    scheme = scheme_of(views, producer)
    if scheme == "dynamo":
        return _from_dynamo(views)
    if scheme == "paddle":
        return _from_paddle(views)
    return _from_names(views, merge_calls=producer == "pytorch", tf2onnx=producer == "tf2onnx")


def _links(views: list[NodeView]) -> tuple[dict[str, int], dict[str, list[int]]]:
    """Tensor -> the node writing it, and tensor -> the nodes reading it (for the few nodes whose
    scheme says nothing of them and which take their neighbours')."""
    producer: dict[str, int] = {}
    consumers: dict[str, list[int]] = {}
    for index, view in enumerate(views):
        for name in view.output:
            producer[name] = index
        for name in view.input:
            consumers.setdefault(name, []).append(index)
    return producer, consumers


# --- names: /-separated scopes --------------------------------------------------------------------


class _Scopes:
    """Scope prefixes turned into module paths, each distinct prefix once (thousands of nodes share one)."""

    def __init__(self, merge_calls: bool):
        self.merge_calls = merge_calls
        self.cache: dict[str, str] = {}
        self.children: dict[str, set[str]] = {}  # the segments seen under each path, for merge_calls

    def of_name(self, name: str) -> str:
        """The module path of a node name: its segments but the op's own (the last)."""
        prefix, _, last = name.rpartition("/")
        if last and not last.endswith("Fusion"):
            path = self.cache.get(prefix)
            if path is None:
                path = self.cache[prefix] = self.join([p for p in prefix.split("/") if p])
            return path
        parts = [p for p in name.split("/") if p]
        if len(parts) > 1 and _FUSION.fullmatch(parts[-1]):  # onnxruntime's "<node>/MatMulScaleFusion/"
            parts.pop()
        return self.join(parts[:-1])

    def join(self, segments: list[str]) -> str:
        if not self.merge_calls:
            return "/".join(segments)
        path = ""
        for segment in segments:
            seen = self.children.setdefault(path, set())
            call = _CALL_SUFFIX.fullmatch(segment)
            if call is not None and call.group(1) in seen:  # TorchScript's second call of the module
                segment = call.group(1)
            seen.add(segment)
            path = f"{path}/{segment}" if path else segment
        return path


def _from_names(views: list[NodeView], merge_calls: bool, tf2onnx: bool) -> list[str]:
    scopes = _Scopes(merge_calls)
    of_name, known = scopes.of_name, scopes.cache.get
    names = list(map(attrgetter("name"), views))
    fused = "Fusion" in "\n".join(names)  # one search, not one per node: onnxruntime's fused names are rare
    paths = []
    for view, name in zip(views, names):
        prefix, slash, last = name.rpartition("/")
        path = known(prefix) if last and not (fused and last.endswith("Fusion")) else None  # most nodes
        if path is None:
            if not slash and view.output and "/" in view.output[0]:
                # a node a runtime made and named anew (onnxruntime's `GPT2Gelu`, `ReorderOutput`):
                # its output keeps the name of the tensor it replaced, `/h.0/mlp/act/Mul_3_output_0`
                name = view.output[0]
            path = of_name(name)
        paths.append(path)
    return _without_tf_roots(paths) if tf2onnx else paths


def _without_tf_roots(paths: list[str]) -> list[str]:
    """tf2onnx keeps TensorFlow's names: tf.function wrappers (`StatefulPartitionedCall/`) and the
    Keras model's own name lead every scope, where torch leaves its root module out."""
    drop: dict[str, str] = {}
    for path in dict.fromkeys(paths):
        parts = path.split("/") if path else []
        while parts and parts[0] in _TF_WRAPPERS:
            parts.pop(0)
        drop[path] = "/".join(parts)
    stripped = [drop[p] for p in paths]
    roots = {p.split("/", 1)[0] for p in stripped if p}
    if len(roots) == 1 and all(stripped):  # one root holds every node: the model itself
        root = roots.pop()
        stripped = [p[len(root) + 1 :] for p in stripped]
    return stripped


# --- torch's dynamo exporter: metadata -----------------------------------------------------------


def _chain(value: str, cache: dict) -> tuple[str, ...]:
    """The modules of a name_scopes value, root and op left out: "['', 'a', 'a.b', 'op']" -> ('a', 'a.b')."""
    head = value.rpartition(", ")[0]  # every node's op differs; its modules repeat
    chain = cache.get(head)
    if chain is None:
        items = [s[1:-1] for s in value[1:-1].split(", ")]
        if not value.startswith("[") or any(("'" in s or '"' in s) for s in items):
            try:
                items = [str(s) for s in ast.literal_eval(value)]
            except (ValueError, SyntaxError):
                items = []
        chain = cache[head] = tuple(s for s in items[:-1] if s)
    return chain


def _metadata(views: list[NodeView]) -> tuple[list, list[int]]:
    """Each node's module chain (None without scopes), and the nodes a rewrite made of others."""
    cache: dict = {}
    chains: list = []
    rewritten = []
    for index, view in enumerate(views):
        chain = None
        for prop in view.proto.metadata_props:
            key = prop.key
            if key == TORCH_SCOPES:
                chain = _chain(prop.value, cache)
            elif key == REWRITE_RULE and view.op_type in _WEIGHTED:
                rewritten.append(index)
        chains.append(chain)
    return chains, rewritten


def _owner(view: NodeView, chain: tuple, known: set[str]) -> tuple | None:
    """A fused node's chain under the module of its weight: a BatchNorm folded into a Conv keeps the
    BatchNorm's scope, but its MACs are the conv's (`layer1.0.conv1.weight` names it). None where
    the weight's name names no module beside the node's own."""
    if len(view.input) < 2:
        return None
    module = view.input[1].rpartition(".")[0]
    if not module or module in chain:
        return None
    ancestors = [m for m in known if module.startswith(m + ".")]
    parent = max(ancestors, key=len) if ancestors else ""
    if parent and parent not in chain:  # a module elsewhere in the model: not this node's
        return None
    return tuple(sorted(ancestors, key=len)) + (module,)


def _from_dynamo(views: list[NodeView]) -> list[str]:
    chains, rewritten = _metadata(views)
    known = {m for chain in dict.fromkeys(c for c in chains if c) for m in chain}
    for index in rewritten:
        if chains[index] is not None:
            owned = _owner(views[index], chains[index], known)
            if owned is not None:
                chains[index] = owned
    if None in chains:  # nodes the exporter's optimizer made: between their neighbours
        _from_neighbours(views, chains, _links(views))
    paths: dict[tuple, str] = {}
    out = []
    for chain in chains:
        path = paths.get(chain)
        if path is None:
            path = paths[chain] = "/".join(map(unqualified, chain or ()))
        out.append(path)
    return out


def _from_neighbours(views: list[NodeView], chains: list, links: tuple[dict, dict]) -> None:
    """A node without scopes takes the deepest chain its producers' and consumers' chains share."""
    producer, consumers = links
    for index, chain in enumerate(chains):
        if chain is not None:
            continue
        view = views[index]
        near = [producer.get(n) for n in view.input] + [c for n in view.output for c in consumers.get(n, ())]
        around = [chains[i] for i in near if i is not None and chains[i] is not None]
        chains[index] = _common(around)


def _common(chains: list[tuple]) -> tuple:
    if not chains:
        return ()
    shared = chains[0]
    for chain in chains[1:]:
        n = 0
        while n < len(shared) and n < len(chain) and shared[n] == chain[n]:
            n += 1
        shared = shared[:n]
    return shared


# --- paddle2onnx ---------------------------------------------------------------------------------


def _paddle_layer(view: NodeView) -> str | None:
    """The Paddle layer a node's output variable or parameter names, if any."""
    for name in view.output:
        match = _PADDLE_VAR.fullmatch(name)
        if match is not None:
            return match.group(1) or match.group(2)
    for name in view.input:
        match = _PADDLE_PARAM.fullmatch(name)
        if match is not None:
            return match.group(1)
    return None


def _from_paddle(views: list[NodeView]) -> list[str]:
    """paddle2onnx writes each Paddle op's nodes one after another, the last writing the op's
    variable: the helper nodes before it join its layer; a constant joins its first reader's."""
    layers: list = [None if v.op_type == "Constant" else _paddle_layer(v) for v in views]
    pending: list[int] = []
    for index, view in enumerate(views):
        if view.op_type == "Constant":
            continue
        if layers[index] is None:
            pending.append(index)
            continue
        for waiting in pending:
            layers[waiting] = layers[index]
        pending = []
    _, consumers = _links(views)
    for index, view in enumerate(views):
        if view.op_type == "Constant":
            readers = [c for n in view.output for c in consumers.get(n, ())]
            layers[index] = layers[min(readers)] if readers else None
    return [layer or "" for layer in layers]
