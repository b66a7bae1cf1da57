"""onnxruntime in a fenced child process: --verify (runtime shapes) and --profile (measured time per node)."""
