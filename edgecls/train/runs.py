"""The run folder: what a training run leaves behind, and how later stages read it back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from edgecls.errors import EdgeclsError

MODEL = "model.keras"
CHECKPOINT = "checkpoint.keras"
CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
BACKUP = "backup"


@dataclasses.dataclass
class RunInfo:
    """What a converter or evaluator needs to know about a trained model besides its weights."""

    model: str
    classes: list[str]
    input_size: tuple[int, int]       # width, height
    fit: str
    data: str
    config: dict
    command: str

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        return d


def read_run(run_dir: str | Path) -> RunInfo:
    path = Path(run_dir) / CONFIG
    try:
        d = json.loads(path.read_text())
        return RunInfo(d["model"], d["classes"], tuple(d["input_size"]), d["fit"], d["data"], d["config"],
                       d["command"])
    except FileNotFoundError:
        raise EdgeclsError(f"{run_dir}: not a run folder (no {CONFIG}); pass the --out folder of `edgecls train`") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise EdgeclsError(f"{path}: unreadable run config ({exc})") from None
