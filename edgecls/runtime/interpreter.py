"""Find a TFLite interpreter: ai-edge-litert, else tflite-runtime, else TensorFlow's own."""

from __future__ import annotations

from pathlib import Path

from edgecls.errors import EdgeclsError


def interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            try:
                from edgecls._tf import tf

                Interpreter = tf().lite.Interpreter
            except EdgeclsError:
                raise EdgeclsError("no TFLite runtime found; run `pip install ai-edge-litert`") from None
    return Interpreter


def load_interpreter(path: str | Path, threads: int | None = None):
    """An allocated interpreter for ``path``; a file that is not a TFLite model gives a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise EdgeclsError(f"{path}: no such model file")
    try:
        interpreter = interpreter_class()(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeclsError(f"{path}: not a usable TFLite model ({reason})") from None
    return interpreter
