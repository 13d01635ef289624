"""PNG figures: confusion matrix, training curves, accuracy against latency. Needs matplotlib (``[plot]``).

Figures are drawn on matplotlib's object API (Figure + Agg canvas), so no global backend state is touched.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from edgecls.errors import MissingExtraError
from edgecls.fileio import atomic_path


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("matplotlib", "plot") from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path)


def confusion_matrix_png(report: dict, path: str | Path) -> Path:
    """Row-normalized confusion matrix with counts, rows true classes, columns predictions."""
    cm = np.asarray(report["confusion_matrix"], dtype=np.float64)
    classes = report["classes"]
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    fig = _figure(1.0 + 0.55 * n, 0.8 + 0.5 * n)
    ax = fig.add_subplot()
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {report['accuracy']:.4f} on {report['count']} images")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    return _save(fig, path)


def training_curves_png(history_csv: str | Path, path: str | Path) -> Path:
    """Accuracy and loss per epoch, train against validation, from a run's history.csv."""
    rows = list(csv.DictReader(Path(history_csv).open()))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig = _figure(10, 4)
    for i, metric in enumerate(("accuracy", "loss")):
        ax = fig.add_subplot(1, 2, i + 1)
        for key, label in ((metric, "train"), (f"val_{metric}", "val")):
            if rows and key in rows[0]:
                ax.plot(epochs, [float(r[key]) for r in rows], marker=".", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both latency (lower) and accuracy (higher)."""
    front = []
    for i, (lat, acc) in enumerate(points):
        if not any((l2 <= lat and a2 >= acc) and (l2 < lat or a2 > acc) for j, (l2, a2) in enumerate(points) if j != i):
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def accuracy_latency_png(rows: list[dict], path: str | Path, title: str = "accuracy against latency") -> Path:
    """Scatter of top-1 against p50 latency, one marker per device, the Pareto front joined by a line.

    ``rows`` need keys ``label``, ``p50_ms``, ``top1`` and optionally ``device``.
    """
    rows = [r for r in rows if r.get("top1") is not None and r.get("p50_ms") is not None]
    fig = _figure(7, 4.5)
    ax = fig.add_subplot()
    devices = sorted({r.get("device", "") for r in rows})
    markers = "os^Dv<>p*h"
    for d, device in enumerate(devices):
        mine = [r for r in rows if r.get("device", "") == device]
        ax.scatter([r["p50_ms"] for r in mine], [r["top1"] for r in mine], marker=markers[d % len(markers)],
                   label=device or None, zorder=3)
        for r in mine:
            ax.annotate(r["label"], (r["p50_ms"], r["top1"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        front = pareto_front([(r["p50_ms"], r["top1"]) for r in mine])
        ax.plot([mine[i]["p50_ms"] for i in front], [mine[i]["top1"] for i in front], "--", alpha=0.6,
                label=f"Pareto front{' ' + device if device else ''}")
    ax.set_xlabel("p50 latency per image (ms)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
