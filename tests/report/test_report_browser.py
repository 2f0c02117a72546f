"""index.html in a real headless Chromium at 1280 px: the tiny pipeline's page (no console errors, a row per variant,
images load) and a page of long claims (every claim's verdict on the first screen, no horizontal scrolling)."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from headless_chromium import Browser, find_chromium
from test_report_page import VARIANTS, fake_project  # noqa: F401 (a fixture)

from finegrain import paths
from finegrain.params import Params
from finegrain.report.build import build_report

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
        assert_verdicts_in_view(browser, 1)
        shot = browser.screenshot(tmp_path / "report.png")
        assert browser.errors() == []
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")


VERDICTS_IN_VIEW = """(() => {
  const wrap = document.querySelector('#verdicts').parentElement;
  const edge = Math.min(window.innerWidth, wrap.getBoundingClientRect().right);
  const cells = [...document.querySelectorAll('#verdicts tbody tr')].map(r => r.cells[0]);
  return {
    page: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    table: [wrap.scrollWidth, wrap.clientWidth],
    verdicts: cells.map(c => ({text: c.textContent, right: c.getBoundingClientRect().right, edge: edge})),
    header: document.querySelector('#verdicts thead th').textContent,
  };
})()"""


def assert_verdicts_in_view(browser: Browser, claims: int) -> None:
    """Every claim's verdict cell lies inside the 1280 px viewport and its table needs no horizontal scrolling."""
    seen = browser.evaluate(VERDICTS_IN_VIEW)
    assert seen["viewport"] == 1280 and seen["page"] <= 1280, seen
    assert seen["header"] == "verdict" and len(seen["verdicts"]) == claims, seen
    assert seen["table"][0] <= seen["table"][1], seen  # the claims table fits its box: no scroll bar
    assert all(0 < v["right"] <= v["edge"] for v in seen["verdicts"]), seen


def test_every_claims_verdict_is_on_the_first_screen_at_1280_px(fake_project, chromium, tmp_path):  # noqa: F811
    """Claims with long texts and notes (as preset D's), the report's values and ours: the verdicts stay in view."""
    for name in VARIANTS:  # three seeds with a spread, so the claims get intervals, sizes and long verdicts
        path = fake_project / paths.variant_metrics(name)
        quality = json.loads(path.read_text())
        quality["seeds"], quality["test"]["top1_std"] = 3, 0.01
        path.write_text(json.dumps(quality))
    note = "the report gives only figure 2 " * 12
    claims = [
        {"text": f"claim {i}: " + "a long sentence from the report " * 6, "a": "cnn", "b": "cnn_fgsm",
         "expect": expect, "note": note, "report": {"a": 0.8329, "b": 0.1324}, "report_source": "table 1"}
        for i, expect in enumerate(("greater", "less", "greater"))
    ]  # fmt: skip
    claims[2]["report"] = {"a": 0.81, "b": 0.70}
    params = Params(variants=VARIANTS, report={"claims": claims})
    build_report(params, paths.REPORTS, paths.MODELS, paths.EVAL, paths.VARIANT_METRICS, paths.PERF / "variants")
    with Browser(chromium, tmp_path / "profile") as browser:
        browser.open((fake_project / paths.REPORTS / "index.html").as_uri())
        assert_verdicts_in_view(browser, len(claims))
        texts = [v["text"] for v in browser.evaluate(VERDICTS_IN_VIEW)["verdicts"]]
        assert texts == [
            "reproduced in sign, size different (ours smaller than the report's)",
            "contradicted",
            "reproduced in sign and size",
        ]
        assert browser.errors() == []
