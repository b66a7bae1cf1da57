"""Speed and memory of modelaudit against `onnx.load` + onnx shape inference, and against onnx-tool
when it is installed. Each measurement runs in a fresh process (for its peak RSS). The baseline and
modelaudit run in alternation, and a ratio is taken within each adjacent pair, so a slow spell of a
shared machine hits both sides of a ratio; the median ratio (and the median time) is reported.

    python benchmarks/bench.py                      # everything (~2-4 minutes on 2 cores)
    python benchmarks/bench.py --sizes 4000 16000   # only some graph sizes
    python benchmarks/bench.py --onnx-tool-max-nodes 60000   # let onnx-tool run the 52k graph (≈13 min)
    python benchmarks/bench.py --end-to-end         # the command in a fresh process (benchmarks/endtoend.py)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import endtoend  # noqa: E402
import models  # noqa: E402

NODES_PER_LAYER = 69

# tool -> (setup, timed code); imports are not timed
_CHILD = {
    "onnx": (
        "import onnx",
        """
        model = onnx.load(PATH, load_external_data=False)
        onnx.shape_inference.infer_shapes(model)
    """,
    ),
    "onnx.load": ("import onnx", "onnx.load(PATH, load_external_data=False)"),
    "modelaudit": (
        """
        import sys
        opened = []
        def hook(event, args):
            if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
                opened.append(os.fsdecode(args[0]))
        sys.addaudithook(hook)
        import modelaudit
    """,
        """
        report = modelaudit.audit(PATH, findings=False)  # the costs alone, as docs/performance.md measured
        assert report.totals.nodes > 0
        assert not any(p.endswith(".weights") for p in opened), "the external weights file was opened"
    """,
    ),
    "onnx-tool": (
        "import onnx_tool",
        """
        model = onnx_tool.Model(PATH)
        model.graph.shape_infer()
        model.graph.profile()
    """,
    ),
}


def measure(tool: str, path: Path, timeout: float) -> tuple[float | None, float | None]:
    """(seconds, peak RSS in MB) of one run in a fresh process; (None, None) on failure."""
    setup, timed = _CHILD[tool]
    code = f"import os, time\nPATH = {str(path)!r}\n" + textwrap.dedent(setup)
    code += "\nstart = time.perf_counter()\n" + textwrap.dedent(timed) + "\nprint(time.perf_counter() - start)\n"
    # VmHWM is this process's own peak RSS (rusage would include the parent's, inherited at fork)
    code += "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None, None
    if process.returncode != 0:
        print(f"  {tool} failed on {path.name}: {err.decode()[-300:]}", file=sys.stderr)
        return None, None
    seconds, peak_kb = out.decode().strip().splitlines()[-2:]
    return float(seconds), int(peak_kb) / 1024.0


def median_runs(tool: str, path: Path, repeat: int, timeout: float) -> dict:
    times, rss = [], []
    for _ in range(repeat):
        seconds, peak = measure(tool, path, timeout)
        if seconds is None:
            return {"seconds": None, "rss_mb": None}
        times.append(seconds)
        if peak is not None:
            rss.append(peak)
    return {"seconds": statistics.median(times), "rss_mb": max(rss) if rss else None, "runs": times}


def paired_runs(base: str, path: Path, repeat: int, timeout: float) -> dict:
    """`repeat` alternating runs of the baseline and modelaudit: medians, and the median of the
    ratios of adjacent runs."""
    runs = {base: [], "modelaudit": []}
    rss = {base: [], "modelaudit": []}
    failed = set()
    for _ in range(repeat):
        for tool in (base, "modelaudit"):
            seconds, peak = measure(tool, path, timeout)
            if seconds is None:
                failed.add(tool)
            else:
                runs[tool].append(seconds)
                rss[tool].append(peak)
    out = {}
    for tool in (base, "modelaudit"):
        ok = tool not in failed and runs[tool]
        out[tool] = {
            "seconds": statistics.median(runs[tool]) if ok else None,
            "rss_mb": max(rss[tool]) if ok else None,
            "runs": runs[tool],
        }
    pairs = [m / b for b, m in zip(runs[base], runs["modelaudit"])] if not failed else []
    out["ratio"] = statistics.median(pairs) if pairs else None
    out["ratios"] = pairs
    return out


def have_onnx_tool() -> bool:
    try:
        import onnx_tool  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[4000, 16000, 52000, 104000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--onnx-tool-max-nodes",
        type=int,
        default=16000,
        help="skip onnx-tool on larger graphs (it needs ~13 minutes at 52k nodes)",
    )
    parser.add_argument("--skip-weights", action="store_true", help="skip the 20G-param and 300 MB models")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="time `modelaudit report` as a command against the floor process instead",
    )
    parser.add_argument("--formats", nargs="*", default=["json", "text"], help="--end-to-end: output formats")
    parser.add_argument(
        "--layouts",
        nargs="*",
        default=["embedded", "external"],
        choices=("embedded", "external"),
        help="--end-to-end: weights inside the file, or in one external file",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="--end-to-end: also time each format with MODELAUDIT_NO_FORK=1 (no forked helper)",
    )
    parser.add_argument(
        "--symbolic",
        type=int,
        metavar="NODES",
        default=0,
        help="--end-to-end: only time `report --symbolic` against `report` on a graph this size",
    )
    args = parser.parse_args()
    if args.end_to_end and args.symbolic:
        return _symbolic(args)
    if args.end_to_end:
        return _end_to_end(args)
    results = []
    onnx_tool = have_onnx_tool()
    with tempfile.TemporaryDirectory(prefix="modelaudit-bench-") as tmp:
        tmp = Path(tmp)
        paths = {}
        for size in args.sizes:
            path = tmp / f"transformer_{size}.onnx"
            nodes = models.transformer(max(1, round(size / NODES_PER_LAYER)), path, batch=1)
            row = {
                "model": f"transformer, {nodes:,} nodes",
                "nodes": nodes,
                **paired_runs("onnx", path, args.repeat, args.timeout),
            }
            if onnx_tool and nodes <= args.onnx_tool_max_nodes:
                # one long run, framed by a modelaudit run on each side: the speed-up is taken
                # against those two, made in the same few minutes
                before = measure("modelaudit", path, args.timeout)[0]
                row["onnx-tool"] = median_runs("onnx-tool", path, 1, args.timeout)
                after = measure("modelaudit", path, args.timeout)[0]
                frame = [t for t in (before, after) if t is not None]
                row["onnx-tool"]["modelaudit_frame"] = frame
            paths[nodes] = path
            results.append(row)
            _print_row(row)
        growth = _growth(paths, args.repeat, args.timeout)
        if growth:
            results.append(growth)
        if not args.skip_weights:
            path = tmp / "giant.onnx"
            params = models.external_giant(path)
            row = {
                "model": f"external data, {params / 1e9:.0f} G params",
                "params": params,
                **paired_runs("onnx", path, args.repeat, args.timeout),
            }
            results.append(row)
            _print_row(row)
            path = tmp / "embedded.onnx"
            size = models.embedded(path)
            row = {
                "model": f"embedded weights, {size / 1e6:.0f} MB",
                "file_mb": size / 1e6,
                **paired_runs("onnx.load", path, args.repeat, args.timeout),
            }
            results.append(row)
            _print_row(row)
    _print_targets(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def _end_to_end(args) -> int:
    results = []
    sizes = args.sizes if args.sizes != [4000, 16000, 52000, 104000] else [52000, 104000]
    with tempfile.TemporaryDirectory(prefix="modelaudit-bench-") as tmp:
        tmp = Path(tmp)
        written = {}
        for size in sizes:
            for layout, (path, nodes) in endtoend.write_models(tmp, size, args.layouts).items():
                row = {
                    "model": f"transformer, {nodes:,} nodes, {layout} weights",
                    "nodes": nodes,
                    "layout": layout,
                    **endtoend.end_to_end(path, args.formats, args.repeat, args.timeout, args.one_process),
                }
                endtoend.print_end_to_end(row["model"], row, args.formats)
                results.append(row)
                written.setdefault(layout, {})[nodes] = path
        embedded, external = (
            next(iter(written.get(layout, {}).items()), (0, None)) for layout in ("embedded", "external")
        )
        if embedded[1] and external[1]:  # the smallest size: one model of each layout
            embedded, external = embedded[1], external[1]
            row = {
                "many": "compare and --jobs 2 of the two layouts' models",
                **endtoend.many(embedded, external, args.repeat, args.timeout),
            }
            results.append(row)
            for name in ("compare", "jobs 2"):
                entry = row[name]
                if entry["ratio"]:
                    print(
                        f"{name} (both layouts): {entry['ratio']:.2f}× the two models' own report commands (pairs "
                        f"{min(entry['ratios']):.2f}–{max(entry['ratios']):.2f}; target ≤ 1): "
                        f"{'PASS' if entry['ratio'] <= 1 else 'FAIL'}",
                        flush=True,
                    )
        for layout, paths in written.items():
            big = next((n for n in sorted(paths) if 50000 <= n <= 54000), None)
            bigger = next((n for n in sorted(paths) if 100000 <= n <= 108000), None)
            if big and bigger:
                row = {
                    "growth": f"{bigger}/{big}",
                    "layout": layout,
                    **endtoend.growth(paths[big], paths[bigger], args.repeat, args.timeout),
                }
                results.append(row)
                if row["ratio"]:
                    print(
                        f"{layout}: 104k/52k command time {row['ratio']:.2f}× (pairs {min(row['ratios']):.2f}–"
                        f"{max(row['ratios']):.2f}; target ≤ 2.2×): {'PASS' if row['ratio'] <= 2.2 else 'FAIL'}"
                    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def _symbolic(args) -> int:
    with tempfile.TemporaryDirectory(prefix="modelaudit-bench-") as tmp:
        row = endtoend.symbolic(Path(tmp), args.symbolic, args.repeat, args.timeout, args.one_process)
    for suffix in ("", ", one process"):
        if row.get(f"ratio{suffix}"):
            ratio, ratios = row[f"ratio{suffix}"], row[f"ratios{suffix}"]
            print(
                f"{row['symbolic']}{suffix}: report --symbolic {ratio:.2f}× report (pairs {min(ratios):.2f}–"
                f"{max(ratios):.2f}; target ≤ 3×): {'PASS' if ratio <= 3 else 'FAIL'}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps([row], indent=2))
    return 0


def _fmt(entry: dict | None) -> str:
    if not entry or entry["seconds"] is None:
        return "—"
    rss = f", {entry['rss_mb']:.0f} MB" if entry.get("rss_mb") else ""
    return f"{entry['seconds']:.2f} s{rss}"


def _growth(paths: dict[int, Path], repeat: int, timeout: float) -> dict | None:
    """The 104k/52k time of modelaudit from alternating runs of the two graphs (pair ratios)."""
    big = next((n for n in sorted(paths) if 50000 <= n <= 54000), None)
    bigger = next((n for n in sorted(paths) if 100000 <= n <= 108000), None)
    if big is None or bigger is None:
        return None
    ratios = []
    for _ in range(repeat):
        small, large = measure("modelaudit", paths[big], timeout)[0], measure("modelaudit", paths[bigger], timeout)[0]
        if small and large:
            ratios.append(large / small)
    return {"growth": f"{bigger}/{big}", "ratios": ratios, "ratio": statistics.median(ratios) if ratios else None}


def _speedup(row: dict) -> float | None:
    """onnx-tool's time over the modelaudit runs framing it (the median runs if those failed)."""
    tool = row.get("onnx-tool")
    if not tool or not tool["seconds"]:
        return None
    frame = tool.get("modelaudit_frame") or [row["modelaudit"]["seconds"]]
    ours = statistics.mean(frame) if all(frame) else None
    return tool["seconds"] / ours if ours else None


def _print_row(row: dict) -> None:
    base = row.get("onnx") or row.get("onnx.load")
    ours = row["modelaudit"]
    line = f"{row['model']:<34} baseline {_fmt(base):<22} modelaudit {_fmt(ours):<22}"
    if row.get("ratio"):
        spread = f" (pairs {min(row['ratios']):.2f}–{max(row['ratios']):.2f})" if len(row["ratios"]) > 1 else ""
        line += f" ratio {row['ratio']:.2f}×{spread}"
    if "onnx-tool" in row:
        speedup = _speedup(row)
        line += f"  onnx-tool {_fmt(row['onnx-tool'])}" + (f" ({speedup:.0f}× slower)" if speedup else "")
    print(line, flush=True)


def _print_targets(results: list[dict]) -> None:
    by_nodes = {r["nodes"]: r for r in results if "nodes" in r}
    print("\ntargets:")
    big = next((r for n, r in sorted(by_nodes.items()) if 50000 <= n <= 54000), None)
    bigger = next((r for n, r in sorted(by_nodes.items()) if 100000 <= n <= 108000), None)
    if big and big["ratio"]:
        ratio = big["ratio"]
        print(
            f"  52k nodes: {ratio:.2f}× onnx.load + shape inference (target ≤ 4×): {'PASS' if ratio <= 4 else 'FAIL'}"
        )
        speedup = _speedup(big)
        if speedup:
            print(
                f"  52k nodes: {speedup:.0f}× faster than onnx-tool (target ≥ 100×): "
                f"{'PASS' if speedup >= 100 else 'FAIL'}"
            )
    paired = next((r for r in results if "growth" in r), None)
    if paired and paired["ratio"]:
        growth = paired["ratio"]
        spread = f"pairs {min(paired['ratios']):.2f}–{max(paired['ratios']):.2f}"
        print(
            f"  104k/52k time: {growth:.2f}× ({spread}; target ≤ 2.3×, linear): {'PASS' if growth <= 2.3 else 'FAIL'}"
        )
    elif big and bigger and big["modelaudit"]["seconds"] and bigger["modelaudit"]["seconds"]:
        growth = bigger["modelaudit"]["seconds"] / big["modelaudit"]["seconds"]
        print(f"  104k/52k time: {growth:.2f}× (target ≤ 2.3×, linear): {'PASS' if growth <= 2.3 else 'FAIL'}")
    for r in results:
        if "params" in r:
            rss = r["modelaudit"]["rss_mb"]
            print(
                f"  20 G-param external data: {rss:.0f} MB peak RSS (target < 400 MB), weights file never "
                f"opened: {'PASS' if rss and rss < 400 else 'FAIL'}"
            )
        if "file_mb" in r and r["ratio"]:
            ratio = r["ratio"]
            rss = r["modelaudit"]["rss_mb"]
            print(
                f"  {r['file_mb']:.0f} MB embedded: {ratio:.2f}× onnx.load (target ≤ 2.5×): "
                f"{'PASS' if ratio <= 2.5 else 'FAIL'}; "
                f"{rss:.0f} MB peak RSS = {rss / r['file_mb']:.2f}× the file (target ≤ 2×): "
                f"{'PASS' if rss <= 2 * r['file_mb'] else 'FAIL'}"
            )


if __name__ == "__main__":
    sys.exit(main())
