"""The tiny pipeline's index.html in a real headless Chromium: no console errors, a row per variant, images load."""

from __future__ import annotations

import os

import pytest
import yaml
from headless_chromium import Browser, find_chromium

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: make install-dev installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium, or make install-dev)")
    return binary


def test_report_page_in_headless_chromium(tiny_project, chromium, tmp_path):
    variants = list(yaml.safe_load((tiny_project / "params.yaml").read_text())["variants"])
    page = tiny_project / "data" / "reports" / "index.html"
    with Browser(chromium, tmp_path / "profile") as browser:
        browser.open(page.as_uri())
        rows = browser.evaluate("[...document.querySelectorAll('#variants tbody tr')].map(r => r.cells[0].textContent)")
        assert rows == variants
        images = browser.evaluate(
            "[...document.images].map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth}))"
        )
        assert images and all(i["ok"] for i in images), images
        alts = [i["alt"] for i in images]
        for name in variants:
            assert f"{name}: heatmaps" in alts and f"{name}: feature maps" in alts
        assert {"confusion matrices, test split", "robust accuracy vs ε"} <= set(alts)
        sort = "[...document.querySelectorAll('#variants thead th')].find(th => th.textContent === '{}').click()"
        browser.evaluate(sort.format("test %"))
        browser.evaluate(sort.format("test %"))  # second click: descending
        accs = browser.evaluate(
            "[...document.querySelectorAll('#variants tbody tr')].map(r => +r.cells[6].dataset.value)"
        )
        assert accs == sorted(accs, reverse=True)
        shot = browser.screenshot(tmp_path / "report.png")
        assert browser.errors() == []
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")
