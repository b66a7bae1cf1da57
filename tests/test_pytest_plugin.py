"""The pytest plugin, run inside pytester: the fixture and the Markdown summary."""

from __future__ import annotations

from conftest import SAMPLES

pytest_plugins = ["pytester"]


def test_fixture_and_summary(pytester):
    pytester.makepyfile(f'''
        def test_budget(model_audit):
            report = model_audit(r"{SAMPLES / "mobilenet_v2.onnx"}")
            assert report.totals.macs < 600e6
            assert report.totals.params == 3_504_872

        def test_second(model_audit):
            model_audit(r"{SAMPLES / "conv3x3.onnx"}")
    ''')
    summary = pytester.path / "summary.md"
    result = pytester.runpytest(f"--modelaudit-report={summary}")  # the plugin loads by its entry point
    result.assert_outcomes(passed=2)
    text = summary.read_text()
    assert "| model | params | weight bytes | MACs | FLOPs | peak activations | test |" in text
    assert "mobilenet_v2.onnx | 3.50 M | 13.5 MiB | 300.8 M | 627.4 M |" in text
    assert "conv3x3.onnx | 3.58 K |" in text and "::test_second |" in text


def test_relative_paths_are_taken_from_the_rootdir(pytester, monkeypatch):
    import shutil

    (pytester.path / "models").mkdir()
    shutil.copy(SAMPLES / "conv3x3.onnx", pytester.path / "models" / "conv3x3.onnx")
    pytester.makeini("[pytest]\n")  # marks pytester.path as the rootdir
    tests = pytester.mkpydir("tests")
    (tests / "test_model.py").write_text(
        "def test_budget(model_audit):\n"
        "    assert model_audit('models/conv3x3.onnx').totals.params == ((3 * 3 * 3) + 1) * 128\n"
    )
    monkeypatch.chdir(tests)  # started from a subfolder, where models/ does not exist
    result = pytester.runpytest("test_model.py")
    result.assert_outcomes(passed=1)


def test_plugin_is_registered_by_entry_point():
    from importlib.metadata import entry_points

    assert any(ep.value == "modelaudit.pytest_plugin" for ep in entry_points(group="pytest11"))
