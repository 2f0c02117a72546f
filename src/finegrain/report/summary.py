"""The report's first screen: what the run shows, in one table, then the verdicts of its claims (verdict first, the
report's values and effect beside ours, the claim's long text last, so every verdict shows at 1280 px).

One row per variant: what it demonstrates (read from its config), test top-1 ± std over seeds, and whether it and
the techniques it rests on worked (finegrain.checks: learning, detector crops, generated images, SimCLR init).
"""

from __future__ import annotations

import html

from finegrain import checks
from finegrain.models.names import LITE_MODELS
from finegrain.params import Params
from finegrain.report.claims import Verdict, p_text
from finegrain.train.config import TrainCfg

DATA = {
    "prepared": "full frames",
    "cropped": "detector crops",
    "cropped_square": "square detector crops",
}
CROPS = {"mmdet": "detector", "gt": "ground-truth box", "none": "full-frame"}
"""What the crops of each crop.mode are cut by (crop.mode none: the whole frame, resized to crop.size_px)."""
INIT = {
    "none": "from scratch",
    "hub": "ImageNet init (hub)",
    **{lite: "ImageNet init" for lite in LITE_MODELS},  # the model's name says which EfficientNet-Lite
    "simclr": "SimCLR init",
}
"""Words for every init the schema allows (models.names.INITS; a test checks none is missing)."""
MODE = {"frozen": "linear probe", "two_phase": "head, then fine-tuned", "full": ""}


def demonstrates(cfg: TrainCfg, params: Params, upsampled: dict | None = None) -> str:
    """A variant in words: model, init, how it trains and on what, e.g. 'small_cnn from scratch on detector crops';
    `upsampled`: what train recorded when image_size_px was above the stored images' size."""
    data = (
        _words(cfg.data, params.crop.mode)
        if cfg.data != "augmented"
        else (f"{_words(params.generate.input, params.crop.mode)} + {params.generate.augment.method.upper()} images")
    )
    mode = MODE[cfg.mode] or ("fine-tuned" if cfg.init != "none" else "")
    words = [cfg.model, INIT[cfg.init]] + ([mode] if mode else []) + [f"on {data}"]
    extras = list(cfg.mods)
    if cfg.adv.method != "none":
        extras.append(f"{cfg.adv.method.upper()} training")
    if cfg.mix.mode != "none":
        extras.append(cfg.mix.mode)
    if cfg.train_images:
        extras.append(f"{cfg.train_images} train images")
    if upsampled:
        extras.append(f"{upsampled['stored_px']} px images upsampled to {upsampled['size_px']}")
    return " ".join(words) + (f" ({', '.join(extras)})" if extras else "")


def _words(data: str, crop_mode: str) -> str:
    """A data input in words; crops named after what cut them (crop.mode)."""
    return DATA[data].replace("detector", CROPS[crop_mode]) if data in DATA else data


def summary_rows(
    params: Params, table: list[dict], variant_checks: dict[str, dict], upsampled: dict[str, dict] | None = None
) -> list[dict]:
    """[{variant, demonstrates, test_top1, works}] with `works` '✓' or '✗ <figures>' over every check; `upsampled`:
    the variants train recorded as trained on upsampled images (variant -> its record)."""
    rows = []
    for record in table:
        name = record["variant"]
        found = {"learning": checks.learned(record["test"]).to_dict(), **variant_checks.get(name, {})}
        broken = checks.failing(found)
        std = record["test"].get("top1_std")
        top1 = f"{100 * record['test']['top1']:.1f}" + (f" ± {100 * std:.1f}" if std else "")
        rows.append(
            {
                "variant": name,
                "demonstrates": demonstrates(params.variant(name), params, (upsampled or {}).get(name)),
                "test top-1 %": f"{top1} (n={record['seeds']})",
                "works": _works(found, broken),
            }
        )
    return rows


def _works(found: dict[str, dict], broken: list[str]) -> str:
    """'✓ learning, detector' or '✗ learning: <figure>; ✓ simclr': every check named, the failing ones with figures."""
    passed = [name for name, c in found.items() if c["works"]]
    if not broken:
        return "✓ " + ", ".join(passed)
    return "✗ " + "; ".join(broken) + (f"; ✓ {', '.join(passed)}" if passed else "")


def verdict_rows(verdicts: list[Verdict]) -> list[dict]:
    """One row per claim, verdict first and the claim's long text last (the verdicts stay on the first screen):
    the combined verdict, Holm's p and family, the report's values and effect beside ours."""
    return [
        {
            "verdict": v.combined,
            "Holm p": _holm(v),
            "report: a vs b: effect": v.report_text or "none printed",
            "ours: a vs b: effect [95% CI]": v.ours_text,
            "claim": v.claim.text + "".join(f" ({t})" for t in (v.claim.split_text, v.claim.note) if t),
        }
        for v in verdicts
    ]


def _holm(v: Verdict) -> str:
    """'0.012 of 19', 'no test (of 19)', or '' when Holm was not applied."""
    if not v.family:
        return ""
    return f"{p_text(v.p_holm)} of {v.family}" if v.p_holm is not None else f"no test (of {v.family})"


def summary_markdown(rows: list[dict], verdicts: list[dict]) -> str:
    lines = ["# What this run shows", "", *_md_table(rows)]
    if verdicts:
        lines += ["", "## Claims", "", *_md_table(verdicts)]
    return "\n".join(lines) + "\n"


def _md_table(rows: list[dict]) -> list[str]:
    cols = list(rows[0]) if rows else []
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)] + [
        "| " + " | ".join(str(r[c]).replace("|", "/") for c in cols) + " |" for r in rows
    ]


def summary_html(rows: list[dict], verdicts: list[dict], family: str = "") -> str:
    """The first screen: the variants in words with their checks, then each claim's verdict (`family`: a line on
    Holm's family when it spans other runs)."""
    parts = ["<h2>What this run shows</h2>", _html_table(rows, "summary")]
    if verdicts:
        note = f" {html.escape(family)}." if family else ""
        parts += [f'<p class="note">Claims (details below).{note}</p>', _html_table(verdicts, "verdicts")]
    return "\n".join(parts)


def _html_table(rows: list[dict], ident: str) -> str:
    cols = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f'<td style="text-align:left">{html.escape(str(r[c]))}</td>' for c in cols) + "</tr>"
        for r in rows
    )
    table = f'<table class="sortable" id="{ident}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="table-wrap">{table}</div>'
