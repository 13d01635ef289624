"""``edgecls inspect``: what a .tflite file holds — tensors, quantization, operators, metadata, size.

Reads the flatbuffer with the schema module ai-edge-litert ships (no TensorFlow).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from edgecls import metadata as md
from edgecls.errors import EdgeclsError
from edgecls.runtime.interpreter import load_interpreter


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated as schema
        except ImportError:
            return None
    return schema


def operator_counts(data: bytes) -> dict[str, int]:
    """Operators by type over every subgraph (empty when no schema module is installed)."""
    schema = _schema()
    if schema is None:
        return {}
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(data, 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        custom = code.CustomCode()
        codes.append(custom.decode() if custom else names.get(builtin, str(builtin)))
    counts: Counter[str] = Counter()
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for j in range(graph.OperatorsLength()):
            counts[codes[graph.Operators(j).OpcodeIndex()]] += 1
    return dict(counts.most_common())


def _tensor(detail: dict) -> dict:
    scale, zero_point = detail["quantization"]
    return {"name": detail["name"], "shape": [int(v) for v in detail["shape"]],
            "dtype": np.dtype(detail["dtype"]).name,
            "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None}


def inspect_model(path: str | Path) -> dict:
    path = Path(path)
    interpreter = load_interpreter(path)
    data = path.read_bytes()
    meta = md.read(path)
    try:
        from edgecls.tflite_metadata import read_model_metadata

        schema_meta = read_model_metadata(data)
    except (ImportError, EdgeclsError):
        schema_meta = {}
    return {
        "path": str(path),
        "size_bytes": len(data),
        "inputs": [_tensor(d) for d in interpreter.get_input_details()],
        "outputs": [_tensor(d) for d in interpreter.get_output_details()],
        "operators": operator_counts(data),
        "metadata": meta.to_dict() if meta else None,
        "tflite_metadata": schema_meta or None,
    }


def format_inspection(info: dict) -> str:
    lines = [f"{info['path']}  {info['size_bytes'] / 1e6:.3f} MB"]
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            q = t["quantization"]
            quant = f"  scale {q['scale']:.6g} zero point {q['zero_point']}" if q else ""
            lines.append(f"{kind[:-1]:<7} {t['name']}  {t['shape']}  {t['dtype']}{quant}")
    ops = info["operators"]
    if ops:
        lines.append(f"operators ({sum(ops.values())}): " + ", ".join(f"{k} {v}" for k, v in ops.items()))
    meta = info["metadata"]
    if meta:
        tta = meta.get("tta", "none")
        lines.append(f"model   {meta['name']} ({meta['format']}), edgecls {meta['edgecls_version']}"
                     + (f", test-time augmentation {tta} in the graph" if tta != "none" else ""))
        i = meta["input"]
        lines.append(f"input   {i['width']}x{i['height']} {i['colour']}, fit {i['fit']}, mean {i['mean']}, std {i['std']}")
        lines.append(f"labels  {len(meta['labels'])}: {', '.join(meta['labels'][:12])}"
                     + (" ..." if len(meta["labels"]) > 12 else ""))
        acc = meta.get("accuracy") or {}
        if acc:
            lines.append(f"accuracy top-1 {acc.get('top1'):.4f} (float {acc.get('keras_top1'):.4f}, agreement "
                         f"{acc.get('agreement'):.4f}) on {acc.get('count')} images of {acc.get('data')}")
        if meta.get("command"):
            lines.append(f"made by {meta['command']}")
    else:
        lines.append("metadata: none (not made by edgecls)")
    lines.append("TFLite Metadata (MediaPipe / Task Library): " + ("present" if info["tflite_metadata"] else "absent"))
    return "\n".join(lines)
