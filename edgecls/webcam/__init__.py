"""Live classification of cameras, streams and video files with OpenCV (the ``[webcam]`` extra).

``sources`` reads frames (a thread per source, latest-frame semantics for live ones), ``overlay`` draws the
labels on them and ``loop`` ties both to a :class:`edgecls.runtime.Classifier`. OpenCV is imported only
through :func:`opencv`, so ``edgecls --help`` works without it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from edgecls.errors import EdgeclsError, MissingExtraError

SYSTEM_FONTS = "/usr/share/fonts"


def opencv(quiet: bool = True):
    """Return the ``cv2`` module. ``quiet`` turns off the log lines OpenCV and FFmpeg write straight to stderr
    (a missing camera prints a dozen of them): edgecls reports each failure itself, in one line. Settings the
    user made in the environment win (OPENCV_LOG_LEVEL=INFO shows them again, as does ``edgecls --debug``)."""
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        return cv2
    if quiet:
        os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if sys.platform.startswith("linux") and Path(SYSTEM_FONTS).is_dir():
        # The opencv-python wheel's Qt looks for fonts in its own empty folder and warns about it for every
        # window; the system's fonts are what it should use.
        os.environ.setdefault("QT_QPA_FONTDIR", SYSTEM_FONTS)
    try:
        import cv2
    except ModuleNotFoundError as exc:
        if exc.name != "cv2":
            raise
        raise MissingExtraError("opencv-python", "webcam") from None
    except ImportError as exc:  # installed, but a system library it links to is missing (libGL, libglib)
        reason = str(exc).splitlines()[0]
        raise EdgeclsError(f"OpenCV is installed but cannot be imported ({reason}); install the missing system "
                           "library, or opencv-python-headless for --headless use") from None
    return cv2
