"""Entry of the fenced onnxruntime process: `python -m modelaudit._fenced_child` (see runtime.py)."""

from modelaudit.runtime import _child_main

if __name__ == "__main__":
    _child_main()
