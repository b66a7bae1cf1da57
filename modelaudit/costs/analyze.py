"""The audit: a topological walk that builds each node's context, dispatches it to its rule, and
assembles the Report."""

from __future__ import annotations

import gc
import logging
import math
from contextlib import contextmanager

from onnx import helper

from modelaudit.figures import Figure
from modelaudit.graph.model import ModelGraph
from modelaudit.graph.modules import module_paths
from modelaudit.graph.walk import Visit, walk
from modelaudit.units import human

from .cost import Cost, NodeContext, Unresolved, dims_str
from .details import DETAILED, details
from .info import checker_warning, missing_data_warning, model_info, unresolved_hints
from .memory import live_bytes
from .report import Report, Row, Totals
from .rules import find_rule, is_zero_cost, load_plugins
from .rules.elementwise import per_element
from .weights import WeightTable, find_weights

__all__ = ["analyze", "prepare", "quiet_gc"]

log = logging.getLogger(__name__)


_FOLDED = Cost(formula="all inputs constant: folded at load")
_MOVED = Cost(formula="data movement")
_NONE = Cost()
_NO_DIMS: list[str] = []
_MOVED_ROW = (_MOVED, "zero-cost", _NO_DIMS)
_UNCOUNTED_ROW = (_NONE, "uncounted", _NO_DIMS)


def _described(mg: ModelGraph) -> tuple[dict[str, str], dict[str, int | None], dict[str, int | None], set[str]]:
    """Every tensor's shape as text ("1x3x224x224"), its bytes and its element count (None unless
    every dim is known, as NodeContext.out_numel reads it), by name: a model has a few dozen
    distinct (shape, dtype) pairs, each described once. A name without a TensorInfo is absent
    (its text is "?", its size unknown). Last, the tensors with a dim below 0 (a Reshape to -5, a
    ConstantOfShape of a negative size): no size, and their nodes are error rows."""
    by_pair: dict = {}
    texts: dict[str, str] = {}
    sizes: dict[str, int | None] = {}
    numels: dict[str, int | None] = {}
    negative: set[str] = set()
    for name, info in mg.tensors.items():
        shape = info.shape
        pair = shape, info.dtype
        described = by_pair.get(pair)
        if described is None:
            ints = [d for d in shape if isinstance(d, int)] if shape is not None else []
            known = shape is not None and len(ints) == len(shape)
            below = known and min(ints, default=0) < 0
            size, numel = (None, None) if below else (mg.nbytes(name), math.prod(ints) if known else None)
            described = by_pair[pair] = dims_str(shape), size, numel, below
        texts[name], sizes[name], numels[name], below = described
        if below:
            negative.add(name)
    return texts, sizes, numels, negative


class _Auditor:
    """Costs nodes recursively; rows of a subgraph carry run counts relative to their parent."""

    def __init__(self, mg: ModelGraph, weights: WeightTable):
        self.mg, self.weights = mg, weights
        self.warnings: list[str] = list(mg.warnings) + load_plugins()
        self.incomplete: list[str] = []
        self.params_incomplete: list[str] = []
        self.texts, self.sizes, self.numels, self.negative = _described(mg)
        # (op, domain) -> (rule, opset, cost without a rule, the rule's FLOPs per output element)
        self._plans: dict[tuple[str, str], tuple] = {}
        self._lookup = (mg.values, weights.constant_tensors)
        tensors = mg.tensors  # an absent optional input ("") has no info, even where a tensor is named ""
        self._info = tensors.get if "" not in tensors else lambda n: tensors.get(n) if n else None

    def rows(self, visits: list[Visit], scope: str = "") -> list[Row]:
        """The rows of `visits` (`scope`: a subgraph's parent's name), in pre-order."""
        out: list[Row] = []
        row = self.row
        for visit in visits:
            out.append(row(visit, scope))
            if visit.children:
                out.extend(self.control_flow(visit, out[-1]))
        return out

    def plan(self, op: str, domain: str) -> tuple:
        """The rule of each op is looked up once per audit, not once per node."""
        opset = self.mg.opset(domain)
        spec = find_rule(op, domain, opset)
        plan = self._plans[(op, domain)] = (
            spec,
            opset,
            _MOVED_ROW if is_zero_cost(op, domain) else _UNCOUNTED_ROW,
            spec.per_element if spec is not None else None,
        )
        return plan

    def cost(self, spec, opset: int, key, node) -> tuple[Cost, str, list]:
        """(cost, status, unresolved dims) of a node its rule costs."""
        info = self._info
        ctx = NodeContext(
            node, key, opset, None, list(map(info, node.input)), list(map(info, node.output)), lookup=self._lookup
        )
        try:
            cost = spec.fn(ctx)
            if cost.macs < 0 or cost.flops < 0:  # a hostile shape: never let it subtract from the totals
                raise ValueError(f"negative cost ({cost.formula})")
            return cost, "counted", _NO_DIMS
        except Unresolved as exc:
            return Cost(formula=str(exc)), "unresolved", exc.dims
        except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError) as exc:
            self.warnings.append(f"rule for {node.op_type} failed on node #{key} '{node.name}': {exc}")
            return Cost(formula=str(exc)), "error", _NO_DIMS

    def row(self, visit: Visit, scope: str) -> Row:
        node, key, weights = visit.node, visit.key, self.weights
        op, domain = node.op_type, node.domain
        spec, opset, without_rule, each = self._plans.get((op, domain)) or self.plan(op, domain)
        outs = node.output
        if self.negative and (below := self.below_zero(node)):
            cost, status, dims = Cost(formula=below), "error", _NO_DIMS
        elif key in weights.constant_nodes:
            cost, status, dims = _FOLDED, "constant", _NO_DIMS
        elif spec is not None:
            n = self.numels.get(outs[0]) if each is not None and outs and outs[0] else None
            if n is not None and n >= 0:  # what the rule would give, without a NodeContext (RuleSpec.per_element)
                cost, status, dims = per_element(each, n), "counted", _NO_DIMS
            else:
                cost, status, dims = self.cost(spec, opset, key, node)
        else:
            cost, status, dims = without_rule
            if status == "uncounted":
                if visit.children and op in CONTROL_FLOW:
                    cost, status = _NONE, "counted"
                elif key in weights.unclassified:
                    self.uncertain_weights(node, weights.unclassified[key])
        known = status in _KNOWN
        index = key if isinstance(key, int) else int(key.rsplit("/", 1)[-1])
        local = node.name or f"{op}_{index}"
        texts, constant = self.texts, weights.constant_tensors
        data: list[str] = []
        stored: list[str] = []
        for n in node.input:
            if n:
                (stored if n in constant else data).append(texts.get(n, "?"))
        if len(outs) == 1 and outs[0]:  # most nodes
            outputs, output_bytes = [texts.get(outs[0], "?")], self.sizes.get(outs[0])
        else:
            outputs, output_bytes, sizes = [], 0, self.sizes
            for n in outs:
                if n:
                    outputs.append(texts.get(n, "?"))
                    if output_bytes is not None:
                        size = sizes.get(n)
                        output_bytes = None if size is None else output_bytes + size
        return Row(
            index=index,
            name=f"{scope}/{local}" if scope else local,
            op=op,
            domain=domain,
            inputs=data,
            weights=stored,
            outputs=outputs,
            params=weights.params_by_node.get(key, 0),
            non_trainable=weights.non_trainable_by_node.get(key, 0),
            macs=cost.macs if known else None,
            flops=cost.flops if known else None,
            output_bytes=output_bytes,
            formula=cost.formula,
            status=status,
            unresolved=sorted(set(dims)) if dims else [],
            scope=scope,
            details=details(self.mg, node) if op in DETAILED else {},
        )

    def below_zero(self, node) -> str | None:
        """Why a node whose input or output has a dim below 0 gets no figure (None if none has)."""
        for name in (*node.input, *node.output):
            if name in self.negative:
                return f"tensor '{name}' has shape {self.texts[name]}: a dim below 0 is no size"
        return None

    def uncertain_weights(self, node, leaves) -> None:
        """An op without a rule reads integer constants: quantized weights or indices, nobody can tell."""
        numel = sum(leaf.numel for leaf in leaves)
        self.params_incomplete.append(
            f"params may be incomplete: {node.op_type} '{node.name}' has no rule and reads "
            f"{len(leaves)} constant tensor(s) of {numel:,} {leaves[0].dtype_label} elements "
            "that no convention classes as weights (uncounted)"
        )

    def control_flow(self, visit: Visit, row: Row) -> list[Row]:
        """If: both branches, the more expensive counted. Loop: body × trip count. Scan: × sequence."""
        branches = [(attr, self.rows(children, f"{row.name}/{attr}")) for attr, children in visit.children]
        totals = [(attr, _sum(rows, "macs"), _sum(rows, "flops")) for attr, rows in branches]
        op = visit.node.op_type
        if op == "If" and len(branches) == 2:
            known = [(m or 0, f or 0, attr) for attr, m, f in totals]
            chosen = max(known)[2]
            if any(m is None for _, m, _ in totals):
                self.incomplete.append(
                    f"If '{row.name}': a branch has unknown costs, so the more expensive "
                    "branch cannot be chosen for sure"
                )
            row.formula = (
                "; ".join(f"{attr} {_human(m)} MACs" for attr, m, _ in totals)
                + f": the more expensive branch ({chosen}) is counted"
            )
            multipliers = {attr: int(attr == chosen) for attr, _ in branches}
        else:
            runs, note = self._iterations(visit, row)
            body = ", ".join(f"{attr} {_human(m)} MACs" for attr, m, _ in totals)
            row.formula = f"{body} × {runs} ({note})" if runs is not None else f"{body} per iteration ({note})"
            if runs is not None and runs < 0:  # no count of runs: an error row, its body not counted
                row.formula = f"{note} {runs} < 0: how often the body runs is unknown; it is not counted"
                row.status, row.macs, row.flops, runs = "error", None, None, 0
            multipliers = {attr: 1 if runs is None else runs for attr, _ in branches}
        out = []
        for attr, rows in branches:
            for r in rows:
                r.runs *= multipliers[attr]
            out.extend(rows)
        return out

    def _iterations(self, visit: Visit, row: Row) -> tuple[int | None, str]:
        node, mg = visit.node, self.mg
        if node.op_type == "Loop":
            trip = _scalar(mg.values.get(node.input[0])) if node.input and node.input[0] else None
            if trip is not None:
                cond = node.input[1] if len(node.input) > 1 else ""
                return (
                    trip,
                    "trip count" if not cond else "trip count, an upper bound: the condition may stop it earlier",
                )
            self.incomplete.append(
                f"Loop '{row.name}': its trip count is not constant; its body is counted once, per iteration"
            )
            return None, "trip count not constant"
        if node.op_type == "Scan":
            length = _scan_length(mg, node, row)
            if length is not None:
                return length, "sequence length"
            self.incomplete.append(f"Scan '{row.name}': its sequence length is unknown; its body is counted once")
            return None, "sequence length unknown"
        self.incomplete.append(
            f"{node.op_type} '{row.name}': how often its subgraph runs is unknown; it is counted once"
        )
        return None, "repetitions unknown"


def _scalar(value) -> int | None:
    if value is None or value.dtype == object or value.size != 1:
        return None
    return int(value.reshape(-1)[0])


def _scan_length(mg: ModelGraph, node, row: Row) -> int | None:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    scans = int(attrs.get("num_scan_inputs", 0))
    if scans <= 0 or len(node.input) < scans:
        return None
    first = node.input[len(node.input) - scans]
    axis = (attrs.get("scan_input_axes") or [0])[0]
    info = mg.info(first)
    if mg.opset("") < 9:  # Scan-8 has a leading batch axis and scans axis 1
        axis = 1
    if info is None or info.shape is None or not info.shape:
        return None
    dim = info.shape[axis % len(info.shape)]
    return dim if isinstance(dim, int) else None


def _sum(rows: list[Row], field: str) -> int | None:
    total = 0
    for r in rows:
        value = getattr(r, field)
        if value is None and r.runs:
            return None
        total += (value or 0) * r.runs
    return total


def _human(value: int | None) -> str:
    return human(value)


CONTROL_FLOW = frozenset({"If", "Loop", "Scan", "SequenceMap"})
_KNOWN = frozenset({"counted", "zero-cost", "constant"})


def prepare(mg: ModelGraph) -> tuple | None:
    """What analyze() needs that the shapes do not change (the walk and the weights), from a model
    not yet inferred (graph.model.load's `meanwhile`); None where the weights need the shapes."""
    visits = walk(mg)
    weights = find_weights(mg, visits, shapes=False)
    return (visits, weights, modules_of(mg)) if weights is not None else None


def modules_of(mg: ModelGraph) -> list[str]:
    """Each top-level node's module path (graph/modules.py), by node index."""
    return module_paths(mg.nodes, mg.model.producer_name)


def analyze(mg: ModelGraph, prepared: tuple | None = None) -> Report:
    """Costs every node of a loaded ModelGraph, subgraphs included. `prepared`: prepare() of the
    same model before its shapes were inferred."""
    if prepared is not None:
        visits, weights, modules = prepared
    else:
        visits = walk(mg)
        weights = find_weights(mg, visits)
        modules = modules_of(mg)
    auditor = _Auditor(mg, weights)
    rows = auditor.rows(visits)
    uncounted: dict[str, int] = {}
    unresolved: dict[str, int] = {}
    macs = flops = activation_bytes = 0
    macs_missing = flops_missing = bytes_missing = 0  # parts of the sums that are unknown
    for row in rows:  # one pass over the rows, no property call per row
        if row.status == "uncounted":
            uncounted[row.op_label] = uncounted.get(row.op_label, 0) + 1
        for d in row.unresolved:
            unresolved[d] = unresolved.get(d, 0) + 1
        runs = row.runs
        if not runs:
            continue
        if row.macs is None:
            macs_missing += 1
        else:
            macs += row.macs * runs
        if row.flops is None:
            flops_missing += 1
        else:
            flops += row.flops * runs
        if row.status != "constant":
            if row.output_bytes is None:
                bytes_missing += 1
            else:
                activation_bytes += row.output_bytes
    by_dtype = weights.bytes_by_dtype()
    steps, peak, peak_complete = live_bytes(mg, weights.constant_tensors, auditor.sizes)
    complete = not auditor.incomplete  # a branch or body counted in part (see the warnings)
    weighed = not auditor.params_incomplete
    totals = Totals(
        params=Figure.of(weights.params, weighed),
        non_trainable=Figure.of(weights.non_trainable, weighed),
        weight_bytes=Figure.of(sum(by_dtype.values()), weighed),
        weight_bytes_by_dtype=by_dtype,
        macs=Figure.of(macs, complete and not macs_missing),
        flops=Figure.of(flops, complete and not flops_missing),
        activation_bytes=Figure.of(activation_bytes, not bytes_missing),
        peak_activation_bytes=Figure.of(peak, peak_complete),
        nodes=len(rows),
    )
    return Report(
        model=model_info(mg),
        rows=rows,
        totals=totals,
        uncounted=uncounted,
        unresolved=unresolved_hints(mg, unresolved),
        warnings=checker_warning(mg)
        + missing_data_warning(mg)
        + auditor.warnings
        + auditor.incomplete
        + auditor.params_incomplete,
        live_bytes=steps,
        tables={"modules": {"module": _row_modules(rows, modules)}},
    )


def _row_modules(rows: list[Row], paths: list[str]) -> list[str]:
    """Each row's module path (a subgraph's rows follow their top-level parent, and are in its module)."""
    out, current = [], ""
    for row in rows:
        if not row.scope:
            current = paths[row.index]
        out.append(current)
    return out


@contextmanager
def quiet_gc(restore: bool = True):
    """The cyclic garbage collector off while hundreds of thousands of small records are made:
    it would scan them again and again and find no cycles to free (docs/performance.md).
    `restore=False` leaves it off (a process about to end with os._exit: turned back on, its
    first pass would walk every record made meanwhile)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled and restore:
            gc.enable()
