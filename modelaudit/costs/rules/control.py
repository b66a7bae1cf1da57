"""If, Loop, Scan, SequenceMap: their cost is their subgraphs', which the walk costs node by node."""

from __future__ import annotations

from modelaudit.costs.cost import Cost, NodeContext

from . import rule

__all__ = ["control_flow"]


@rule(
    "If",
    "Loop",
    "Scan",
    "SequenceMap",
    category="control flow",
    macs="If: the more expensive branch; Loop: body × trip count; Scan: body × sequence length",
    flops="as MACs: the subgraph's FLOPs, repeated the same way",
)
def control_flow(ctx: NodeContext) -> Cost:
    """The node itself does no arithmetic; its subgraph rows carry the cost with a run count."""
    return Cost(formula="see its subgraph rows")
