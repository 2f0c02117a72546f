"""Each preset's `results:` inventory: every quantitative statement of its report (by line) is judged by claims or
marked untestable with the reason; quotes sit on their lines; every claim with the report's numbers is cited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from finegrain.errors import ConfigError
from finegrain.presets.apply import compose, load_preset
from finegrain.presets.results import check_results, misquoted, normalise

REPO = Path(__file__).resolve().parents[2]
PRESETS_DIR = REPO / "presets"
PRESETS = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
REPORTS = Path(os.environ.get("FINEGRAIN_REPORTS", REPO.parent / "shared" / "reports"))


@pytest.mark.parametrize("name", PRESETS)
def test_every_inventory_entry_is_a_claim_or_untestable_with_a_reason(name):
    preset = load_preset(name, PRESETS_DIR)
    entries = check_results(name, preset)
    assert entries, f"preset {name} lists its report's results"
    assert all(bool(e.claim) != bool(e.untestable) for e in entries)
    assert all(len(e.untestable.split()) >= 4 for e in entries if e.untestable), "a reason, not a word"


@pytest.mark.parametrize("name", PRESETS)
def test_every_claim_with_the_reports_numbers_is_in_the_inventory(name):
    preset = load_preset(name, PRESETS_DIR)
    cited = {c for e in check_results(name, preset) for c in e.claim}
    for scale in preset["scales"]:
        for claim in compose(name, scale, presets_dir=PRESETS_DIR)["report"]["claims"]:
            if claim.get("report"):
                assert claim["id"] in cited, (
                    f"{name}: claim {claim['id']} carries report numbers but no result cites it"
                )


@pytest.mark.parametrize("name", PRESETS)
def test_each_quote_is_on_its_line_of_the_report(name):
    preset = load_preset(name, PRESETS_DIR)
    report = REPORTS / preset["report"]
    if not report.is_file():
        pytest.skip(f"no {report} (set FINEGRAIN_REPORTS to the reports' directory)")
    assert misquoted(check_results(name, preset), report.read_text().splitlines()) == []


def test_normalise_and_a_quote_off_its_line():
    assert normalise("**Base**\t83.1 <b>x</b> deformed\\_2d") == "base 83.1 x deformed_2d"
    entries = check_results("T", {"params": {"report": {"claims": [{"id": "c"}]}}, "scales": {},
                                  "results": [{"line": 2, "says": "Beta", "claim": "c"}]})  # fmt: skip
    assert misquoted(entries, ["alpha", "beta gamma"]) == []
    assert misquoted(entries, ["beta", "gamma"]) == ["line 2: 'Beta' not found there"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"line": 5, "says": "x", "claim": "nope"}, r"results\[0\] \(line 5\): no claim with id 'nope'$"),
        ({"line": 5, "says": "x"}, r"results\[0\] \(line 5\): .*either `claim` .* or `untestable`"),
        ({"line": 5, "says": "x", "claim": "bs64_acc", "untestable": "why"}, r"either `claim`"),
        ({"line": 0, "says": "x", "claim": "bs64_acc"}, r"results\[0\] \(line 0\): line: "),
    ],
)
def test_a_bad_inventory_entry_fails_in_one_line(tmp_path, entry, message):
    preset = yaml.safe_load((PRESETS_DIR / "C.yaml").read_text())
    preset["results"] = [entry]
    (tmp_path / "C.yaml").write_text(yaml.safe_dump(preset))
    with pytest.raises(ConfigError, match=message) as err:
        load_preset("C", tmp_path)
    assert "\n" not in str(err.value)
