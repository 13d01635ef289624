"""classification_report against figures worked out by hand, and the table format_report prints."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from edgecls.metrics import classification_report, confusion_matrix, format_report

CLASSES = ["cat", "dog", "fox"]
# True:      cat cat cat dog dog fox
# Predicted: cat dog cat dog cat cat     (fox is never predicted)
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 1, 0, 1, 0, 0]
# Probability given to the true class of each sample; the rest is spread over the other two classes.
P_TRUE = [0.5, 0.25, 0.8, 0.5, 0.4, 0.1]


def probabilities() -> np.ndarray:
    rows = np.empty((len(Y_TRUE), len(CLASSES)))
    for i, (label, p) in enumerate(zip(Y_TRUE, P_TRUE)):
        rows[i] = (1 - p) / 2
        rows[i, label] = p
    return rows


@pytest.fixture
def report():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the never-predicted class must not divide by zero noisily
        return classification_report(np.array(Y_TRUE), np.array(Y_PRED), CLASSES, probabilities())


def test_confusion_matrix_rows_are_true_classes(report):
    expected = [[2, 1, 0],   # cat: 2 right, 1 called dog
                [1, 1, 0],   # dog: 1 called cat, 1 right
                [1, 0, 0]]   # fox: called cat
    assert report["confusion_matrix"] == expected
    assert confusion_matrix(Y_TRUE, Y_PRED, 3).tolist() == expected


def test_accuracy_and_count(report):
    assert report["count"] == 6
    assert report["accuracy"] == pytest.approx(3 / 6)


def test_per_class_figures(report):
    # Columns sum to 4 predicted cats, 2 dogs, 0 foxes.
    assert report["per_class"] == {
        "cat": {"precision": pytest.approx(2 / 4), "recall": pytest.approx(2 / 3), "f1": pytest.approx(4 / 7),
                "support": 3},
        "dog": {"precision": pytest.approx(1 / 2), "recall": pytest.approx(1 / 2), "f1": pytest.approx(1 / 2),
                "support": 2},
        "fox": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }


def test_macro_averages(report):
    assert report["precision_macro"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    assert report["recall_macro"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert report["f1_macro"] == pytest.approx((4 / 7 + 1 / 2 + 0) / 3)


def test_weighted_averages(report):
    # Weights are the supports 3, 2, 1 out of 6; weighted recall is the accuracy.
    assert report["precision_weighted"] == pytest.approx((3 * 1 / 2 + 2 * 1 / 2) / 6)
    assert report["recall_weighted"] == pytest.approx(report["accuracy"])
    assert report["f1_weighted"] == pytest.approx((3 * 4 / 7 + 2 * 1 / 2) / 6)


def test_loss_is_mean_cross_entropy_of_the_true_class(report):
    assert report["loss"] == pytest.approx(-sum(math.log(p) for p in P_TRUE) / len(P_TRUE))


def test_no_loss_without_probabilities():
    assert "loss" not in classification_report(Y_TRUE, Y_PRED, CLASSES)


def test_zero_probability_gives_a_finite_loss():
    probs = np.eye(3)[[1, 0]]  # both samples give their true class probability 0
    report = classification_report([0, 1], [1, 0], ["a", "b", "c"], probs)
    assert math.isfinite(report["loss"]) and report["loss"] > 20


def test_perfect_predictions():
    report = classification_report([0, 1, 2, 2], [0, 1, 2, 2], CLASSES)
    assert report["accuracy"] == report["f1_macro"] == report["f1_weighted"] == 1.0
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 2]]


def test_format_report_lists_every_class(report):
    text = format_report(report)
    lines = text.splitlines()
    for name in CLASSES:
        row = next(line for line in lines if line.startswith(name))
        figures = report["per_class"][name]
        assert row.split()[1:] == [f"{figures['precision']:.3f}", f"{figures['recall']:.3f}",
                                   f"{figures['f1']:.3f}", str(figures["support"])]
    assert "macro avg" in text
    assert lines[-1] == f"accuracy 0.5000, loss {report['loss']:.4f}"
