"""Entry of the fenced onnxruntime process: `python -m modelaudit.runtime.child` (see fence.py)."""

from .fence import _child_main

if __name__ == "__main__":
    _child_main()
