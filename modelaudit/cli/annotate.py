"""`modelaudit annotate`: write the annotated copy and say what it holds."""

from __future__ import annotations

from .common import collect, say
from .specs import parse_dim_spec, parse_input_spec

__all__ = ["run_annotate"]


def run_annotate(args) -> int:
    from modelaudit.analyses.annotate import annotate

    counts = annotate(
        args.model,
        args.output,
        collect(args.input, parse_input_spec, "--input"),
        collect(args.dim, parse_dim_spec, "--dim"),
    )
    say(
        f"wrote {args.output}: {counts['shapes']:,} inferred tensor shapes in value_info, params, MACs and "
        f"formula on {counts['nodes']:,} nodes (doc_string, metadata_props)"
    )
    return 0
