"""Classification metrics in plain numpy, shared by training, evaluation, conversion checks and benchmarks."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return m


def classification_report(y_true, y_pred, classes: list[str], probabilities: np.ndarray | None = None) -> dict:
    """Accuracy, macro and weighted precision / recall / F1, per-class figures, confusion matrix and
    (given probabilities) the mean cross-entropy loss."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    cm = confusion_matrix(y_true, y_pred, len(classes))
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    weights = support / max(support.sum(), 1)
    report = {
        "count": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "precision_weighted": float((precision * weights).sum()),
        "recall_weighted": float((recall * weights).sum()),
        "f1_weighted": float((f1 * weights).sum()),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(classes)
        },
        "classes": list(classes),
        "confusion_matrix": cm.tolist(),
    }
    if probabilities is not None:
        p = np.clip(np.asarray(probabilities, np.float64)[np.arange(len(y_true)), y_true], 1e-12, 1.0)
        report["loss"] = float(-np.log(p).mean())
    return report


def format_report(report: dict) -> str:
    """The per-class table a user reads after training or evaluation."""
    width = max(12, *(len(c) for c in report["classes"]))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name, r in report["per_class"].items():
        lines.append(f"{name:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1']:5.3f}  {r['support']:7d}")
    lines.append(f"{'macro avg':<{width}}  {report['precision_macro']:9.3f}  {report['recall_macro']:6.3f}  "
                 f"{report['f1_macro']:5.3f}  {report['count']:7d}")
    loss = f", loss {report['loss']:.4f}" if "loss" in report else ""
    lines.append(f"accuracy {report['accuracy']:.4f}{loss}")
    return "\n".join(lines)
