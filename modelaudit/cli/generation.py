"""`report --decode`, `--generate` and `--hardware`: a decoder's generation (an optimum seq2seq folder
too) and the chip spec every roofline takes."""

from __future__ import annotations

import sys

from modelaudit.errors import UsageError
from modelaudit.units import parse_bytes

from .common import check_writable, refuse_overwriting, write_output
from .specs import collect_dims

__all__ = ["hardware_spec", "decode_report", "generation_folder"]


def hardware_spec(args):
    """The --hardware spec: a built-in chip, a TOML file, or this machine measured (and saved)."""
    if args.save_hardware and args.hardware != "calibrate":
        raise UsageError("--save-hardware goes with --hardware calibrate")
    if args.hardware is None:
        return None
    if not args.hardware.strip():  # was taken for no --hardware at all, without a word
        raise UsageError("--hardware '': give a chip's name, a .toml spec file or calibrate")
    from modelaudit.analyses.hardware import get_spec, spec_from_dict, spec_to_toml

    if args.hardware != "calibrate":
        return get_spec(args.hardware.strip())
    from modelaudit.runtime.calibrate import calibrate
    from modelaudit.runtime.fence import RuntimeFailure

    if args.save_hardware:  # refused before the measurement, not after it
        check_writable(args.save_hardware, "--save-hardware")
    if sys.stderr.isatty():  # off a terminal, stderr holds errors only: one line, the error's
        print("modelaudit: calibrating this machine with onnxruntime (a few seconds)", file=sys.stderr)
    try:
        table = calibrate(args.threads, max(50, args.runs), parse_bytes(args.max_memory, "--max-memory"), args.timeout)
    except RuntimeFailure as exc:
        raise UsageError(f"--hardware calibrate: onnxruntime could not run the calibration ({exc})") from None
    spec = spec_from_dict(table, "--hardware calibrate")
    if args.save_hardware:
        write_output(spec_to_toml(spec), args.save_hardware, "--save-hardware")
    return spec


def decode_report(args, inputs: dict, dims: dict, spec, width: int | None) -> int:
    """--decode (its columns, or with --sweep/--symbolic) and --generate on one decoder."""
    from modelaudit.analyses.pricing import Pricing, parse_dtype

    if args.decode is not None and args.generate is not None:
        raise UsageError("--decode costs steps at given contexts, --generate a whole generation: choose one")
    if args.training or args.verify or args.profile:
        raise UsageError("--decode and --generate go alone (not with --training, --verify or --profile)")
    if args.format == "html":
        raise UsageError("--decode and --generate have no HTML view: use text, markdown, json or csv")
    if args.depth is not None or args.columns or args.by == "op" or args.sort:  # its tables are fixed: never ignore
        flag = "--decode" if args.decode is not None else "--generate"
        raise UsageError(
            f"{flag} prints its own tables (the top layers by decode MACs: --top N) and takes none of "
            "--depth, --by op, --columns, --sort"
        )
    pricing = Pricing(
        None if args.weight_dtype is None else parse_dtype(args.weight_dtype, "--weight-dtype"),
        None if args.kv_dtype is None else parse_dtype(args.kv_dtype, "--kv-dtype"),
    )
    if args.generate is not None:
        from modelaudit.analyses.generate import generate, parse_generate
        from modelaudit.render.generate import render_generate

        if args.sweep or args.symbolic:
            raise UsageError("--generate takes neither --sweep nor --symbolic (--decode does)")
        prompt, new = parse_generate(args.generate)
        result = generate(args.model, prompt, new, inputs, dims, pricing, spec)
        write_output(render_generate(result, args.format, width=width), args.output)
        return 0
    if args.sweep or args.symbolic:
        return _decode_sweep(args, inputs, dims, spec, pricing, width)
    from modelaudit.analyses.generation import generation
    from modelaudit.analyses.kvcache import parse_contexts
    from modelaudit.render.generation import render_generation

    result = generation(args.model, parse_contexts(args.decode), inputs, dims, pricing, spec)
    write_output(render_generation(result, args.format, top=args.top or 10, width=width), args.output)
    return 0


def _decode_sweep(args, inputs: dict, dims: dict, spec, pricing, width) -> int:
    """--decode with --sweep (one column per value, at one context) and/or --symbolic (formulas)."""
    from modelaudit.analyses.generation import assemble, column, open_run
    from modelaudit.analyses.genvariants import decode_formulas, decode_sweep
    from modelaudit.analyses.kvcache import parse_contexts
    from modelaudit.render.generation import render_generation

    contexts = parse_contexts(args.decode)
    run = open_run(args.model, inputs, dims, pricing, "--decode")
    if args.sweep:
        from modelaudit.analyses.sweep import parse_sweep

        if len(contexts) != 1:
            raise UsageError("--decode with --sweep takes one context: the sweep's values are the columns")
        dim, values = parse_sweep(args.sweep)
        if dim in dims:
            raise UsageError(f"--sweep {dim} and --dim {dim}: give the dim one way")
        result = decode_sweep(run, contexts[0], dim, values, spec)
    else:
        result = assemble(run, [column(run, n) for n in contexts], spec)
    if args.symbolic:
        result["formulas"] = decode_formulas(run)
    write_output(render_generation(result, args.format, top=args.top or 10, width=width), args.output)
    return 0


def generation_folder(args, width: int | None) -> int | None:
    """An optimum seq2seq folder is one generation, not three models; --weight-dtype and --kv-dtype
    go with a generation only."""
    generating = args.generate is not None or args.decode is not None
    if not generating and (args.weight_dtype is not None or args.kv_dtype is not None):
        raise UsageError("--weight-dtype and --kv-dtype price a generation: add --decode N or --generate P:N")
    if generating and len(args.model) == 1:
        from modelaudit.analyses.encdec import is_encdec_folder

        if is_encdec_folder(args.model[0]):
            return _encdec_report(args, width)
    return None


def _encdec_report(args, width: int | None) -> int:
    """--generate on an encoder–decoder's optimum folder: the encoder, then the decoder's steps."""
    from modelaudit.analyses.encdec import encdec_generate
    from modelaudit.analyses.generate import parse_generate
    from modelaudit.analyses.pricing import Pricing, parse_dtype
    from modelaudit.render.generate import render_generate

    if args.generate is None:
        raise UsageError(
            "--decode costs a decoder's steps at given contexts: an encoder–decoder folder is audited as one "
            "generation",
            "use --generate SOURCE:NEW (the encoder's input length and the tokens to generate)",
        )
    if args.sweep or args.symbolic or args.training or args.verify or args.profile or args.input:
        raise UsageError("--generate on an encoder–decoder folder takes none of --sweep, --symbolic, --training, "
                         "--verify, --profile, --input")  # fmt: skip
    if args.format == "html":
        raise UsageError("--generate has no HTML view: use text, markdown, json or csv")
    refuse_overwriting(args.output, [args.model[0]])
    pricing = Pricing(
        None if args.weight_dtype is None else parse_dtype(args.weight_dtype, "--weight-dtype"),
        None if args.kv_dtype is None else parse_dtype(args.kv_dtype, "--kv-dtype"),
    )
    source, new = parse_generate(args.generate)
    result = encdec_generate(args.model[0], source, new, collect_dims(args.dim, []), pricing, hardware_spec(args))
    write_output(render_generate(result, args.format, width=width), args.output)
    return 0
