"""Draw the top-k labels, their probabilities as bars, the live FPS and the inference time on a frame."""

from __future__ import annotations

import numpy as np

from edgecls.runtime import Category
from edgecls.webcam import opencv

# Colours are BGR, as OpenCV draws them.
BAR_COLOUR = (0, 190, 255)        # amber: a probability
TRACK_COLOUR = (70, 70, 70)       # the rest of the bar, up to 1.0
TEXT_COLOUR = (255, 255, 255)
SHADOW_COLOUR = (0, 0, 0)
PANEL_SHADE = 0.45                # the panel behind the text keeps this much of the picture's brightness


def draw(image: np.ndarray, top: list[Category], fps: float, ms: float | None) -> np.ndarray:
    """A copy of ``image`` (H x W x 3 BGR) with a panel in its top-left corner: one row per category (label,
    probability, bar), then a status line. The panel scales with the frame, so it stays legible from 320 to
    1920 pixels wide."""
    cv2 = opencv()
    out = image.copy()
    h, w = out.shape[:2]
    scale = min(2.0, max(0.75, w / 640))
    font, font_scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.55 * scale, 1 if scale < 1.5 else 2
    row, pad = round(24 * scale), round(6 * scale)
    texts = [f"{c.label} {c.score:.2f}" for c in top]
    status = f"{fps:.1f} FPS" + (f"  {ms:.2f} ms" if ms is not None else "")
    text_w = max([cv2.getTextSize(t, font, font_scale, thickness)[0][0] for t in texts] or [0])
    bar_x, bar_w = 2 * pad + text_w, round(100 * scale)
    status_w = cv2.getTextSize(status, font, font_scale, thickness)[0][0]

    panel_w = min(w, max(bar_x + bar_w, pad + status_w) + pad)
    panel_h = min(h, (len(top) + 1) * row + pad)
    panel = out[:panel_h, :panel_w]
    panel[:] = (panel.astype(np.float32) * PANEL_SHADE).astype(np.uint8)

    def text(s: str, x: int, y: int) -> None:
        cv2.putText(out, s, (x, y), font, font_scale, SHADOW_COLOUR, thickness + 1, cv2.LINE_AA)
        cv2.putText(out, s, (x, y), font, font_scale, TEXT_COLOUR, thickness, cv2.LINE_AA)

    baseline = round(17 * scale)
    for i, (category, label) in enumerate(zip(top, texts)):
        y = pad + i * row
        text(label, pad, y + baseline)
        top_left, bottom_right = (bar_x, y + round(5 * scale)), (bar_x + bar_w, y + round(19 * scale))
        cv2.rectangle(out, top_left, bottom_right, TRACK_COLOUR, cv2.FILLED)
        filled = round(bar_w * float(np.clip(category.score, 0.0, 1.0)))
        if filled > 0:
            cv2.rectangle(out, top_left, (bar_x + filled, bottom_right[1]), BAR_COLOUR, cv2.FILLED)
    text(status, pad, pad + len(top) * row + baseline)
    return out
