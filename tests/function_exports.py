"""torch's TorchScript exporter with `export_modules_as_functions`: one local function per module
type, the layout whose module blocks and costs the tests check.

Two things that export needs in the tests:
- transformers' modules carry a `config` attribute, which the exporter refuses as a function
  attribute; only the primitive attributes are kept (`pytest`'s monkeypatch, undone after the test).
- the exporter's C++ function-extraction pass (`_jit_pass_onnx_function_extraction`, torch 2.14.1)
  now and then dies with a segmentation fault: once in four runs of the real-world suite (BERT,
  after nine exports in the same process), never when that export ran alone (six times). In the
  test process that ends the whole session, so each export runs in a forked child; a child killed
  by a signal is run again (three times at most), an exception in it is raised here with its
  traceback.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

__all__ = ["export_with_functions", "in_forked_child"]

ATTEMPTS = 3


def _primitive_attributes(monkeypatch) -> None:
    from torch.onnx._internal.torchscript_exporter import utils

    original = utils._get_module_attributes

    def primitive(module):
        return {k: v for k, v in original(module).items() if isinstance(v, (bool, int, float, str))}

    monkeypatch.setattr(utils, "_get_module_attributes", primitive)


def in_forked_child(work: Callable[[], object]) -> None:
    """Run `work()` in a forked child for its side effects (a file written); retry a child that a
    signal killed, raise AssertionError with the child's traceback if `work` raised."""
    deaths = []
    for _ in range(ATTEMPTS):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            os.close(read)
            code = 0
            try:
                torch = sys.modules.get("torch")
                if torch is not None:  # as torch's DataLoader workers: OpenMP's pool is not the parent's
                    torch.set_num_threads(1)
                work()
            except BaseException:
                os.write(write, traceback.format_exc().encode()[-20_000:])
                code = 1
            finally:
                os.close(write)
                os._exit(code)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            failure = pipe.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            deaths.append(signal.Signals(os.WTERMSIG(status)).name)
            continue
        if os.WEXITSTATUS(status) != 0:
            raise AssertionError(f"the export failed in its child process:\n{failure}")
        return
    raise AssertionError(f"the export's child process died {ATTEMPTS} times: {deaths}")


def export_with_functions(module, args, path: Path | str, modules: set, monkeypatch, **kwargs) -> None:
    """torch.onnx.export (TorchScript, opset 17 unless given) with each module of a type in
    `modules` as a local function."""
    import torch

    _primitive_attributes(monkeypatch)
    kwargs.setdefault("opset_version", 17)
    in_forked_child(
        lambda: torch.onnx.export(module, args, str(path), dynamo=False, export_modules_as_functions=modules, **kwargs)
    )
