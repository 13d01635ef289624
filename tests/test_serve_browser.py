"""The page of ``edgecls serve`` in headless Chromium: choose the example photo, drop another, read the labels the
page shows, and check it loads nothing from outside 127.0.0.1.

Needs the Python package ``playwright`` (its browser download is never used) and Debian's ``chromium`` at
/usr/bin/chromium; skipped, with the reason, where either is missing.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright: pip install playwright "
                                                            "(it drives Debian's chromium; no `playwright install`)")
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"needs Debian's chromium at {CHROMIUM}: "
                                                               "apt-get install -y chromium")

from test_serve import DOG, ServerProcess, png  # noqa: E402  (after the skips: a missing browser is no error)

# Playwright adds --headless, --no-sandbox and a fresh --user-data-dir itself. Without the networking flags Chromium
# keeps calling Google's hosts, which a closed network refuses.
FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
def server(tmp_path):
    process = ServerProcess(log=tmp_path / "server.log")
    yield process
    assert process.stop() == 0, process.log.read_text()


def test_the_page_classifies_a_chosen_and_a_dropped_image(server, tmp_path):
    _, model = server.json("GET", "/api/model")
    _, dog = server.classify(DOG.read_bytes(), "dog.jpg")
    red = png(np.full((40, 40, 3), (220, 30, 30), np.uint8))
    _, dropped = server.classify(red, "red.png")
    hosts, problems = set(), []

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS, timeout=90_000)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.on("request", lambda request: hosts.add(urlsplit(request.url)[:2]))  # blob: URLs are local
            page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(server.url)
            expect = sync_api.expect
            expect(page.locator("#model-name")).to_have_text(model["name"])
            expect(page.locator("#model-classes li")).to_have_count(len(model["labels"]))

            page.set_input_files("#file", str(DOG))
            expect(page.locator("#top-label")).to_have_text(dog["top"][0]["label"], timeout=30_000)
            expect(page.locator("#bars li")).to_have_count(len(dog["top"]))
            assert page.locator("#bars li .label").all_text_contents() == [c["label"] for c in dog["top"]]
            assert page.locator("#top-score").text_content() == f"{100 * dog['top'][0]['score']:.1f}%"
            assert page.locator("#timing").text_content().startswith("Inference ")
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)

            # Drag and drop: the same drop event a file dragged from the desktop fires.
            page.evaluate("""([name, data]) => {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], name, {type: "image/png"}));
                const drop = document.getElementById("drop");
                drop.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
                drop.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }""", ["red.png", base64.b64encode(red).decode()])
            expect(page.locator("#top-label")).to_have_text(dropped["top"][0]["label"], timeout=30_000)
            expect(page.locator("#bars li .value").first).to_have_text(f"{100 * dropped['top'][0]['score']:.1f}%")
        finally:
            browser.close()

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(shot.read_bytes())) as image:
        assert image.width >= 1100 and image.height >= 500
    assert {netloc for scheme, netloc in hosts if scheme != "blob"} == {f"127.0.0.1:{server.port}"}, hosts  # everything from this server: no CDN
    assert not problems, problems  # no script errors, no Content-Security-Policy violations
