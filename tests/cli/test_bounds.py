"""Issue 28 items 5-8: files under 1 KB that made an internal error (exit 70), resource bounds, files
written, and exit codes of many models: each gets one line on stderr and a documented exit code."""

from __future__ import annotations

import os
import subprocess
import sys

import onnx
import pytest
from conftest import make_model, tensor, vi
from onnx import TensorProto, helper

from modelaudit.cli.main import main

COMMANDS = {  # every command that reads a model, as the issue tried them
    "text": ["report", "{m}"],
    "html": ["report", "{m}", "--format", "html"],
    "markdown": ["report", "{m}", "--format", "markdown"],
    "csv": ["report", "{m}", "--format", "csv"],
    "json": ["report", "{m}", "--format", "json"],
    "by op": ["report", "{m}", "--by", "op"],
    "lint": ["lint", "{m}"],
    "compare": ["compare", "{m}", "{m}"],
    "check": ["check", "{m}", "--max-macs", "1"],
    "explain": ["explain", "{m}", "--op", "Relu"],
    "annotate": ["annotate", "{m}", "-o", "{out}"],
}


def run(capsys, argv, model, tmp_path):
    """The exit code, stdout and stderr; compare's error line names its model first: left out here."""
    code = main([a.format(m=model, out=tmp_path / "annotated.onnx") for a in argv])
    out, err = capsys.readouterr()
    return code, out, err.replace(f"error: {model}: ", "error: ")


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, path)
    return str(path)


def huge_dims(tmp_path) -> str:
    """x and y of 20 dims of 2^62 each: their element count, 2^1240, passes what a float holds."""
    shape = [2**62] * 20
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", shape)], [vi("y", shape)])
    path = save(model, tmp_path / "huge.onnx")
    assert os.path.getsize(path) < 600
    return path


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_dims_whose_product_passes_the_bound_are_refused_in_every_command(capsys, tmp_path, command):
    code, _, err = run(capsys, COMMANDS[command], huge_dims(tmp_path), tmp_path)
    assert code == 3, err
    assert err.startswith("modelaudit: error: tensor 'x' has 20 dims whose product, about 2^1240, passes")
    assert len(err.strip().splitlines()) == 1


def test_a_product_within_the_bound_is_audited(capsys, tmp_path):
    """2^62 × 2^62 elements: a size no machine holds, still audited exactly (figures are Python
    ints; tests/load/test_untrusted.py has 2^80)."""
    shape = [2**62, 2**62]
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", shape)], [vi("y", shape)])
    code, out, _ = run(capsys, ["report", "{m}", "--format", "json"], save(model, tmp_path / "m.onnx"), tmp_path)
    assert code == 0 and f'"flops": {2**124}' in out  # a Relu's one comparison per element
    for fmt in ("text", "markdown", "csv", "html"):
        assert main(["report", str(tmp_path / "m.onnx"), "--format", fmt]) == 0


@pytest.mark.parametrize("attribute", [1.5, 3], ids=["FLOAT", "INT"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_constant_whose_value_is_not_a_tensor_is_refused(capsys, tmp_path, attribute, command):
    constant = helper.make_node("Constant", [], ["c"], name="c")
    constant.attribute.append(helper.make_attribute("value", attribute))
    nodes = [constant, helper.make_node("MatMul", ["x", "c"], ["z"]), helper.make_node("Relu", ["z"], ["y"])]
    model = make_model(nodes, [vi("x", [2, 2])], [vi("y", None)])
    path = save(model, tmp_path / "constant.onnx")
    assert os.path.getsize(path) < 200
    code, _, err = run(capsys, COMMANDS[command], path, tmp_path)
    kind = "FLOAT" if isinstance(attribute, float) else "INT"
    assert (code, err) == (
        3,
        f"modelaudit: error: Constant node 'c': attribute 'value' is {kind}; a Constant's 'value' is TENSOR\n",
    )


def test_a_constant_inside_a_subgraph_is_checked_too(capsys, tmp_path):
    constant = helper.make_node("Constant", [], ["k"], name="k", value_ints=[1, 2])
    constant.attribute[0].type = onnx.AttributeProto.FLOAT  # value_ints typed FLOAT: no list of ints
    body = helper.make_graph([constant], "then", [], [vi("k", [2], TensorProto.INT64)])
    other = helper.make_graph(
        [helper.make_node("Constant", [], ["e"], value_ints=[3, 4])], "else", [], [vi("e", [2], TensorProto.INT64)]
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=other, name="if")
    model = make_model([node], [vi("c", [], TensorProto.BOOL)], [vi("y", [2], TensorProto.INT64)])
    code, _, err = run(capsys, ["report", "{m}"], save(model, tmp_path / "m.onnx"), tmp_path)
    assert code == 3 and "Constant node 'k': attribute 'value_ints' is FLOAT; a Constant's 'value_ints' is INTS" in err


def _external_loop(tmp_path):
    """A model whose external-data file is a symbolic link that points, through a second link,
    back to itself."""
    folder = tmp_path / "loop"
    folder.mkdir()
    w = tensor("w", (4,))
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [vi("x", [4])], [vi("y", [4])], [w])
    path = save(model, folder / "m.onnx")
    os.symlink("w2.bin", folder / "w.bin")
    os.symlink("w.bin", folder / "w2.bin")
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{m}"],
        ["lint", "{m}"],
        ["compare", "{m}", "{m}"],
        ["report", "{m}", "--verify"],
        ["annotate", "{m}", "-o", "{m}.annotated"],
        ["explain", "{m}", "--op", "Add"],
    ],
    ids=lambda argv: " ".join(a for a in argv if "{" not in a),
)
def test_an_external_data_link_loop_is_named_and_refused(capsys, tmp_path, argv):
    path = _external_loop(tmp_path)
    code, _, err = run(capsys, argv, path, tmp_path)
    line = "tensor 'w' (initializer): external data location 'w.bin' is a symbolic link loop; refused"
    assert (code, err) == (4, f"modelaudit: error: {line}\n")


def test_annotate_output_through_a_link_loop_is_refused(capsys, tmp_path):
    path = save(
        make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])]), tmp_path / "m.onnx"
    )
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    code = main(["annotate", path, "-o", str(tmp_path / "a" / "out.onnx")])
    err = capsys.readouterr().err
    assert code == 2 and "symbolic link loop" in err and len(err.splitlines()) == 1


def test_a_negative_seed_is_a_usage_error(capsys, tmp_path):
    path = save(
        make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])]), tmp_path / "m.onnx"
    )
    assert main(["report", path, "--verify", "--seed", "-1"]) == 2
    assert capsys.readouterr().err == "modelaudit: error: --seed -1: give a seed of 0 or more\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full (a device that is always full) here")
@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{m}"],
        ["report", "{m}", "--format", "json"],
        ["report", "{m}", "{m}", "--format", "jsonl"],
        ["lint", "{m}"],
        ["compare", "{m}", "{m}"],
        ["explain", "{m}", "--op", "Relu"],
        ["check", "{m}", "--max-macs", "1"],
        ["ops"],
    ],
    ids=lambda argv: " ".join(a for a in argv if "{" not in a),
)
def test_a_full_disk_is_one_line_and_exit_2(tmp_path, argv):
    """stdout on a full disk (ENOSPC), and -o FILE on one: never an internal error."""
    path = save(
        make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])]), tmp_path / "m.onnx"
    )
    command = [sys.executable, "-m", "modelaudit", *(a.format(m=path) for a in argv)]
    with open("/dev/full", "w") as full:
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert (result.returncode, result.stderr) == (
        2,
        "modelaudit: error: cannot write the output (No space left on device)\n",
    )
    if argv[0] in ("ops", "explain", "check"):
        return  # no -o
    result = subprocess.run([*command, "-o", "/dev/full"], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (
        2,
        "modelaudit: error: -o /dev/full: cannot write (No space left on device)\n",
    )


# item 7: files written
def _relu(tmp_path, *parts) -> str:
    path = tmp_path.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])]), path)


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_output_dir_replaces_a_planted_link_and_never_writes_through_it(capsys, tmp_path, link):
    first, second = _relu(tmp_path, "models", "a.onnx"), _relu(tmp_path, "models", "b.onnx")
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    out = tmp_path / "reports"
    out.mkdir()
    (os.symlink if link == "symbolic" else os.link)(outside, out / "a.json")
    assert main(["report", first, second, "--format", "json", "--output-dir", str(out)]) == 0
    assert outside.read_text() == "precious\n"  # the file outside is untouched
    assert not (out / "a.json").is_symlink() and '"schema_version"' in (out / "a.json").read_text()
    assert os.stat(out / "a.json").st_nlink == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json"]  # no temporary file left


def test_output_dir_gives_models_of_one_stem_distinct_names(capsys, tmp_path):
    models = [_relu(tmp_path, "zoo", "resnet", "model.onnx"), _relu(tmp_path, "zoo", "bert", "Model.onnx")]
    models.append(_relu(tmp_path, "zoo", "other.onnx"))
    out = tmp_path / "reports"
    assert main(["report", str(tmp_path / "zoo"), "--format", "json", "--output-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["bert__Model.json", "other.json", "resnet__model.json"]
    assert f'"path": "{models[0]}"' in (out / "resnet__model.json").read_text()
    assert f'"path": "{models[1]}"' in (out / "bert__Model.json").read_text()


def test_output_dir_refuses_names_that_still_meet(capsys, tmp_path):
    first, second = _relu(tmp_path, "a__b", "m.onnx"), _relu(tmp_path, "a", "b", "m.onnx")
    out = tmp_path / "reports"
    assert main(["report", first, second, "--output-dir", str(out)]) == 2
    assert "would both write a__b__m.txt" in capsys.readouterr().err and not out.exists()


# item 8: many models
def _doubling_functions(depth: int = 40) -> onnx.ModelProto:
    """Local functions that each call the next one twice: 2^40 nodes once expanded."""
    functions = [
        helper.make_function(
            "f", "leaf", ["x"], ["y"], [helper.make_node("Relu", ["x"], ["y"])], [helper.make_opsetid("", 17)]
        )
    ]
    for level in range(depth):
        calls = [
            helper.make_node(functions[-1].name, ["x"], ["t"], domain="f"),
            helper.make_node(functions[-1].name, ["t"], ["y"], domain="f"),
        ]
        functions.append(
            helper.make_function(
                "f", f"level{level}", ["x"], ["y"], calls, [helper.make_opsetid("", 17), helper.make_opsetid("f", 1)]
            )
        )
    model = make_model([helper.make_node(functions[-1].name, ["x"], ["y"], domain="f")], [vi("x", [2])], [vi("y", [2])])
    model.opset_import.append(helper.make_opsetid("f", 1))
    model.functions.extend(functions)
    return model


def test_a_refusal_to_expand_functions_names_the_model(capsys, tmp_path):
    _relu(tmp_path, "models", "a.onnx")
    bomb = save(_doubling_functions(), tmp_path / "models" / "bomb.onnx")
    assert main(["report", str(tmp_path / "models"), "--format", "json"]) == 5
    err = capsys.readouterr().err
    assert err.startswith(f"modelaudit: error: {bomb}: expanding the model's local functions") and err.count("\n") == 1
    assert main(["compare", str(tmp_path / "models" / "a.onnx"), bomb]) == 5
    assert capsys.readouterr().err.startswith(f"modelaudit: error: {bomb}: expanding")


def _fails_last(job, fork=False):
    """batch._audit_lenient, slowed for the model first in path order (module-level: a pool pickles it by name)."""
    import time

    from modelaudit.cli import batch

    if "a_invalid" in job[0]:
        time.sleep(1.5)  # finishes after b_bomb's refusal
    return batch.__dict__["_original_audit"](job, fork)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "text"])
def test_the_exit_code_of_many_models_is_the_first_failure_in_path_order(capsys, tmp_path, monkeypatch, fmt):
    """An invalid model (3) sorts before a refused expansion (5) and is made to fail last: every
    format, with one worker or two, exits 3 (it exited with whichever failure finished first)."""
    from modelaudit.cli import batch

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "a_invalid.onnx").write_bytes(b"\x08\x07garbage that is no protobuf")
    save(_doubling_functions(), folder / "b_bomb.onnx")
    _relu(tmp_path, "models", "c.onnx")
    monkeypatch.setattr(batch, "_original_audit", batch._audit_lenient, raising=False)
    monkeypatch.setattr(batch, "_audit_lenient", _fails_last)  # forked workers inherit it
    for jobs in ("1", "2"):
        assert main(["report", str(folder), "--format", fmt, "--jobs", jobs]) == 3
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 2 and "a_invalid.onnx" in err[0 if jobs == "1" or fmt != "jsonl" else 1]


# item 6: resource bounds
def _command(*argv, timeout: float = 120) -> tuple[int, str, float]:
    """(exit code, stderr, peak RSS in MiB of its largest process) of the console command."""
    import tempfile
    import time

    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelaudit", *map(str, argv)], stdout=subprocess.DEVNULL, stderr=err
        )
        deadline = time.monotonic() + timeout
        while True:  # wait4: this child's own peak (RUSAGE_CHILDREN would be the largest of every test's)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                raise AssertionError(f"still running after {timeout} s")
            time.sleep(0.01)
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return process.returncode, err.read(), usage.ru_maxrss / 1024


def _doubling_weights(tmp_path) -> str:
    """A 1.7 KB model whose constant lists double at every node: Concat(c, c) forty times."""
    nodes = [helper.make_node("Concat", [f"c{i}", f"c{i}"], [f"c{i + 1}"], axis=0) for i in range(40)]
    c0 = helper.make_tensor("c0", TensorProto.INT64, [8], list(range(8)))
    model = make_model(nodes, [], [vi("c40", None, TensorProto.INT64)], [c0])
    return save(model, tmp_path / "doubling.onnx")


def _doubling_shape(tmp_path, chain: int = 0) -> str:
    """A 1.6 KB model whose shape doubles at every Concat: onnx's own data propagation holds 2^40
    values (as a GPT-2 export with an output dim of 2^31 made it take 24 GB); `chain` Relu nodes
    beside it make it large enough for the forked helper."""
    nodes = [helper.make_node("Shape", ["x"], ["s0"])]
    nodes += [helper.make_node("Concat", [f"s{i}", f"s{i}"], [f"s{i + 1}"], axis=0) for i in range(40)]
    nodes.append(helper.make_node("Reshape", ["x", "s40"], ["y"]))
    nodes += [helper.make_node("Relu", [f"z{i}"], [f"z{i + 1}"]) for i in range(chain)]
    outputs = [vi("y", None)] + ([vi(f"z{chain}", [4])] if chain else [])
    model = make_model(nodes, [vi("x", [2])] + ([vi("z0", [4])] if chain else []), outputs)
    return save(model, tmp_path / f"doubling_shape_{chain}.onnx")


MEMORY_LINE = "modelaudit: error: the audit needed more memory than --memory-limit 512MiB allows; stopped"


def test_the_plain_audit_stops_at_the_memory_limit(tmp_path):
    code, err, peak = _command("report", _doubling_weights(tmp_path), "--memory-limit", "512MiB")
    assert code == 5 and err.startswith(MEMORY_LINE) and err.count("\n") == 1
    assert peak < 2048  # the interpreter's own, and 512 MiB more (it took 3.8 GB in 15 s, and on)


@pytest.mark.parametrize("helper_process", [False, True], ids=["one process", "forked helper"])
def test_onnx_shape_inference_stops_at_the_memory_limit(tmp_path, helper_process):
    """Inside onnx's C++, where Python cannot stop it: the allocation past the limit fails there
    (std::bad_alloc), in this process or in the forked helper (a model of 2,000 nodes or more on
    two CPUs), and the command exits 5, never retried, never killed without a word."""
    from modelaudit.load.forked import WORTH_NODES, can_fork

    if helper_process and not can_fork():
        pytest.skip("no forked helper here (one CPU, or no fork())")
    path = _doubling_shape(tmp_path, WORTH_NODES if helper_process else 0)
    code, err, _ = _command("report", path, "--memory-limit", "512MiB")
    assert code == 5 and err.startswith(MEMORY_LINE) and err.count("\n") == 1


def test_a_memory_limit_is_a_size(capsys, tmp_path):
    path = _relu(tmp_path, "m.onnx")
    for bad in ("0", "lots", "2000TiB"):
        assert main(["report", path, "--memory-limit", bad]) == 2
        assert "--memory-limit" in capsys.readouterr().err
    assert main(["report", path, "--memory-limit", "64MiB", "--format", "json"]) == 0  # beyond what is held already


def _many_dims(tmp_path, count: int, nodes: int = 1) -> str:
    names = [f"d{i}" for i in range(count)]
    chain = [helper.make_node("Relu", [f"x{i}"], [f"x{i + 1}"]) for i in range(nodes)]
    model = make_model(chain, [vi("x0", names)], [vi(f"x{nodes}", names)])
    return save(model, tmp_path / f"dims{count}.onnx")


def test_symbolic_stops_at_the_time_limit(tmp_path):
    """--symbolic once caught the time limit per grid point: it ran on with every formula null."""
    import time

    path = _many_dims(tmp_path, 5, nodes=400)  # 4^5 + 2^5 audits of 400 nodes: far more than a second
    start = time.monotonic()
    code, err, _ = _command("report", path, "--symbolic", "--time-limit", "1")
    assert code == 5 and "did not finish within --time-limit 1 s" in err and err.count("\n") == 1
    assert time.monotonic() - start < 30  # the interpreter's start-up included, on a loaded machine


def test_symbolic_refuses_a_grid_of_too_many_audits(capsys, tmp_path):
    path = _many_dims(tmp_path, 20)  # 4^20 + 2^20 audits: it was still running at 130 s
    assert os.path.getsize(path) < 400
    assert main(["report", path, "--symbolic"]) == 5
    err = capsys.readouterr().err
    assert err.startswith("modelaudit: error: --symbolic: 20 symbolic dims make a grid of 1,099,512,676,352 audits")
