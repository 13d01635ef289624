"""Errors and exit codes shared by the library and the command line."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1          # the command could not do its job
    USAGE = 2          # click's own code for bad arguments
    PARTIAL = 3        # some inputs failed, the others were processed


class EdgeclsError(Exception):
    """A user-facing failure: the message is one line that names what was wrong."""

    exit_code = ExitCode.ERROR


class MissingExtraError(EdgeclsError):
    """An optional dependency is not installed."""

    def __init__(self, module: str, extra: str):
        super().__init__(f"{module} is not installed; run `pip install 'edgecls[{extra}]'`")
