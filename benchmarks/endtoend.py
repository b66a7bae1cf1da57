"""End to end, as a user times it: `modelaudit report` run as a command in a fresh process (process
start to report written) against a floor process that runs `onnx.load` + onnx shape inference with
data propagation on the same file. Runs alternate (floor, json, text) and each ratio is taken within
one such round; peak RSS is each child's own, from `os.wait4`.

    python benchmarks/bench.py --end-to-end                          # 52k and 104k nodes, both layouts
    python benchmarks/bench.py --end-to-end --sizes 52000 --repeat 5
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

__all__ = ["FLOOR", "run_command", "write_models", "end_to_end", "growth", "many", "symbolic", "print_end_to_end"]

NODES_PER_LAYER = 69

# the floor: what any tool that reads and shape-infers the file must do; the weights file of an
# external-data model is not read (the stricter floor: onnx.load would otherwise read every tensor)
FLOOR = (
    "import sys, onnx\n"
    "model = onnx.load(sys.argv[1], load_external_data=False)\n"
    "onnx.shape_inference.infer_shapes(model, data_prop=True)\n"
)


def _env(extra: dict | None = None) -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **(extra or {}))


ONE_PROCESS = {"MODELAUDIT_NO_FORK": "1"}  # the command without its forked helper process (docs/cli.md)


def run_command(argv: list[str], timeout: float, env: dict | None = None) -> tuple[float | None, float | None]:
    """(wall seconds from spawn to exit, the peak RSS in MB of the child or of any process it
    waited for: the forked helper's too); (None, None) on failure."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(env))
    deadline = start + timeout
    while True:  # wait4 gives this one child's rusage (getrusage(RUSAGE_CHILDREN) is a max over all)
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
            os.wait4(process.pid, 0)
            return None, None
        time.sleep(0.005)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    err = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        print(f"  {' '.join(argv[-4:])} failed: {err[-300:]}", file=sys.stderr)
        return None, None
    return seconds, usage.ru_maxrss / 1024.0  # KiB on Linux


def _tree(pid: int) -> list[int]:
    """The process and its descendants (a forked helper), from /proc."""
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                for child in fh.read().split():
                    out += _tree(int(child))
    except OSError:  # gone meanwhile
        pass
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
    except OSError:
        return 0


def summed_pss(argv: list[str], timeout: float, env: dict | None = None) -> float | None:
    """The peak of the summed PSS (MB) of the command's processes, sampled every 10 ms: the memory
    the command holds at once, a forked helper included, with pages the two share counted once.
    Sampling costs CPU, so it runs apart from the timed rounds."""
    if not os.path.exists("/proc/self/smaps_rollup"):
        return None
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(env))
    peak, deadline = 0, time.perf_counter() + timeout
    while process.poll() is None and time.perf_counter() < deadline:
        peak = max(peak, sum(_pss_kib(p) for p in _tree(process.pid)))
        time.sleep(0.01)
    if process.poll() is None:
        process.kill()
        process.wait()
        return None
    return peak / 1024.0 if process.returncode == 0 else None


def write_models(tmp: Path, size: int, layouts: list[str]) -> dict[str, tuple[Path, int]]:
    """The transformer of `size` nodes in each layout, written by a child process so that this
    process stays small (a forked child's peak RSS starts from its parent's)."""
    out = {}
    for layout in layouts:
        path = tmp / f"transformer_{size}_{layout}.onnx"
        layers = max(1, round(size / NODES_PER_LAYER))
        code = (
            f"import sys; sys.path.insert(0, {str(HERE)!r}); import models; "
            f"print(models.transformer({layers}, {str(path)!r}, batch=1, external={layout == 'external'}))"
        )
        nodes = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
        out[layout] = (path, nodes)
    return out


def _ours(path: Path, fmt: str, tmp: Path) -> list[str]:
    return [sys.executable, "-m", "modelaudit", "report", str(path), "--format", fmt, "-o", str(tmp / f"out.{fmt}")]


def end_to_end(path: Path, formats: list[str], repeat: int, timeout: float, one_process: bool = False) -> dict:
    """`repeat` rounds of (floor, one command per format); ratios within each round. With
    `one_process`, each format also runs with MODELAUDIT_NO_FORK=1 (key "FORMAT, one process")."""
    names = [*formats, *(f"{fmt}, one process" for fmt in formats if one_process)]
    runs = {name: [] for name in ["floor", *names]}
    rss = {name: [] for name in runs}
    for _ in range(repeat):
        for name in runs:
            fmt = name.split(",")[0]
            argv = [sys.executable, "-c", FLOOR, str(path)] if name == "floor" else _ours(path, fmt, path.parent)
            seconds, peak = run_command(argv, timeout, ONE_PROCESS if name.endswith("one process") else None)
            runs[name].append(seconds)
            rss[name].append(peak)
    pss = {
        name: summed_pss(
            [sys.executable, "-c", FLOOR, str(path)]
            if name == "floor"
            else _ours(path, name.split(",")[0], path.parent),
            timeout,
            ONE_PROCESS if name.endswith("one process") else None,
        )
        for name in runs
    }
    out = {"floor": _summary(runs["floor"], rss["floor"]) | {"pss_mb": pss["floor"]}}
    for fmt in names:
        entry = _summary(runs[fmt], rss[fmt])
        pairs = [m / b for b, m in zip(runs["floor"], runs[fmt]) if b and m]
        rss_pairs = [m / b for b, m in zip(rss["floor"], rss[fmt]) if b and m]
        entry.update(
            ratio=statistics.median(pairs) if pairs else None,
            ratios=pairs,
            rss_ratio=max(rss_pairs) if rss_pairs else None,
            pss_mb=pss[fmt],
            pss_ratio=pss[fmt] / pss["floor"] if pss[fmt] and pss["floor"] else None,
        )
        out[fmt] = entry
    return out


def _summary(times: list, peaks: list) -> dict:
    ok = [t for t in times if t is not None]
    return {
        "seconds": statistics.median(ok) if ok else None,
        "runs": times,
        "rss_mb": max((p for p in peaks if p is not None), default=None),
    }


def growth(small: Path, large: Path, repeat: int, timeout: float) -> dict:
    """The large graph's command time over the small one's, from alternating runs (pair ratios)."""
    ratios = []
    for _ in range(repeat):
        a = run_command(_ours(small, "json", small.parent), timeout)[0]
        b = run_command(_ours(large, "json", large.parent), timeout)[0]
        if a and b:
            ratios.append(b / a)
    return {"ratios": ratios, "ratio": statistics.median(ratios) if ratios else None}


def many(first: Path, second: Path, repeat: int, timeout: float) -> dict:
    """`compare` of two models and `report DIR --jobs 2` over a folder holding both, each against
    the two models' own `report` commands run in the same round (ratio to their sum)."""
    import shutil

    folder = first.parent / "folder"
    folder.mkdir(exist_ok=True)
    for model in (first, second):  # a model and its weights file, as a user's folder holds them
        for f in model.parent.glob(model.stem + ".*"):
            if not (folder / f.name).exists():
                os.link(f, folder / f.name) if f.suffix == ".onnx" else shutil.copy(f, folder / f.name)
    python = [sys.executable, "-m", "modelaudit"]
    out = str(first.parent / "many.out")
    commands = {
        "report first": _ours(first, "json", first.parent),
        "report second": _ours(second, "json", first.parent),
        "compare": python + ["compare", str(first), str(second), "-o", out],
        "jobs 2": python + ["report", str(folder), "--jobs", "2", "--format", "json", "-o", out],
    }
    runs = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            runs[name].append(run_command(argv, timeout)[0])
    result = {"runs": runs}
    for name in ("compare", "jobs 2"):
        ratios = [
            t / (a + b) for a, b, t in zip(runs["report first"], runs["report second"], runs[name]) if a and b and t
        ]
        result[name] = {"ratio": statistics.median(ratios) if ratios else None, "ratios": ratios}
    return result


def symbolic(tmp: Path, size: int, repeat: int, timeout: float, one_process: bool = False) -> dict:
    """`report --symbolic` against `report` on a transformer whose batch is symbolic, in rounds
    (with `one_process`, both also with MODELAUDIT_NO_FORK=1, ratio taken between those two)."""
    path = tmp / f"transformer_{size}_symbolic.onnx"
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import models; "
        f"print(models.transformer({max(1, round(size / NODES_PER_LAYER))}, {str(path)!r}))"
    )
    nodes = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    plain, fitted = _ours(path, "json", tmp), _ours(path, "json", tmp) + ["--symbolic"]
    variants = {"": None, ", one process": ONE_PROCESS} if one_process else {"": None}
    runs = {f"{kind}{suffix}": [] for suffix in variants for kind in ("report", "symbolic")}
    for _ in range(repeat):
        for suffix, env in variants.items():
            runs[f"report{suffix}"].append(run_command(plain, timeout, env)[0])
            runs[f"symbolic{suffix}"].append(run_command(fitted, timeout, env)[0])
    out = {"symbolic": f"transformer, {nodes:,} nodes, symbolic batch", "nodes": nodes, "runs": runs}
    for suffix in variants:
        ratios = [s / r for r, s in zip(runs[f"report{suffix}"], runs[f"symbolic{suffix}"]) if r and s]
        out[f"ratios{suffix}"], out[f"ratio{suffix}"] = ratios, statistics.median(ratios) if ratios else None
    return out


def print_end_to_end(label: str, row: dict, formats: list[str]) -> None:
    floor = row["floor"]
    pss = f", summed PSS {floor['pss_mb']:.0f} MB" if floor.get("pss_mb") else ""
    print(f"{label:<34} floor {floor['seconds'] or 0:.2f} s, {floor['rss_mb'] or 0:.0f} MB{pss}", flush=True)
    for fmt in [*formats, *(f"{f}, one process" for f in formats if f"{f}, one process" in row)]:
        entry = row[fmt]
        if entry["ratio"] is None:
            print(f"  report --format {fmt}: failed")
            continue
        spread = f"pairs {min(entry['ratios']):.2f}–{max(entry['ratios']):.2f}"
        memory = max(r for r in (entry["rss_ratio"], entry.get("pss_ratio")) if r is not None)
        verdict = "PASS" if entry["ratio"] <= 2.5 and memory <= 1.5 else "FAIL"
        pss = f", summed PSS {entry['pss_ratio']:.2f}×" if entry.get("pss_ratio") else ""
        print(
            f"  report --format {fmt:<5} {entry['seconds']:.2f} s, {entry['rss_mb']:.0f} MB: "
            f"{entry['ratio']:.2f}× the floor ({spread}; target ≤ 2.5×), peak RSS {entry['rss_ratio']:.2f}×"
            f"{pss} (target ≤ 1.5×): {verdict}",
            flush=True,
        )
