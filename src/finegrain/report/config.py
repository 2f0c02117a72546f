"""params.yaml groups `report` (the preset it came from; the claims: what is compared, on which metric, expecting
what, and what the report printed; the report's own tables, printed with ours beside each number) and `gate` (how far
a metric may drop).

Judging lives in finegrain.report.claims, table rendering in finegrain.report.tables and gating in
finegrain.report.gate; this module is all that params
validation needs of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from finegrain.schema import Strict

METRICS = (
    "test.top1",
    "test.top5",
    "test.macro_f1",
    "test.knn_top1",
    "val.top1",
    "params",
    "curve.val_loss_roughness",
    "curve.epochs_to_95",
    "curve.train_val_gap",
    "curve.phase1_last_val_acc",
    "curve.phase2_first_val_acc",
    "explain.feature_sharpness_first",
    "explain.feature_sharpness_last",
    "explain.feature_sharpness_depth",
    "explain.feature_sharpness_depth_untrained",
    "perf.epoch_time_s",
    "perf.train_time_s",
)
"""Metric paths a claim can compare: quality metrics (metrics/variants/<v>.json; curve.val_loss_roughness is the
mean |second difference| of the per-epoch val loss, lower = smoother; curve.epochs_to_95 the epochs until the val
accuracy first reaches 95% of its run's best, lower = faster; curve.train_val_gap the last epoch's train minus val
accuracy, lower = less overfitting; curve.phase1_last_val_acc / phase2_first_val_acc a two-phase run's val accuracy
either side of the unfreezing; explain.feature_sharpness_first / _last the variance of
the Laplacian of the shallowest / deepest feature-map layer's most active maps, lower = blurrier, _depth the log of
last / first, _depth_untrained the same of the untrained architecture (the control), see finegrain.explain.sharpness;
test.knn_top1 the kNN accuracy of an embedding head's embeddings, test items against the train split's) and timings
(perf.*: data/perf/variants/<v>.json)."""

SPLITS = ("test", "val")
"""The splits an accuracy is reported on; a metric of group test.* / val.* is on that split."""


class ClaimCfg(Strict):
    """One claim: `a` vs `b` (pairwise) or a `series` over `x`, on `metric`, in the `expect`ed direction."""

    text: str = Field(min_length=1)
    metric: Literal[METRICS] = "test.top1"  # type: ignore[valid-type]
    metric_b: Literal[METRICS] | None = Field(  # type: ignore[valid-type]
        None,
        description="side b's metric when not `metric` (pairwise), e.g. a model's deepest vs its shallowest layer: "
        "both sides are then the same seeds' runs, which the Welch CI treats as independent (conservative when the "
        "two metrics rise and fall together over seeds)",
    )
    expect: Literal["greater", "less", "equal", "rising", "rising_diminishing"]
    a: list[str] = Field(default_factory=list, description="variants pooled on side a (a str is one variant)")
    b: list[str] = Field(default_factory=list)
    margin: float = Field(
        0.0,
        ge=0.0,
        description="equal: |a - b| (ratio: |log(a / b)|, e.g. log(1.1) for ±10%) below this is equal",
    )
    series: list[str] = Field(default_factory=list, description="variants in x order (series claims)")
    x: list[float] = Field(default_factory=list, description="the series' x values, e.g. training-set sizes")
    scales: list[str] = Field(default_factory=list, description="preset scales where it is testable; [] = all")
    datasets: list[str] = Field(
        default_factory=list, description="data.dataset values it is about (per-dataset report numbers); [] = all"
    )
    note: str = Field("", description="shown with the claim everywhere; says so when the claim is not the report's own")
    compare: Literal["difference", "ratio"] = Field(
        "difference", description="judge a - b, or a / b on the log scale (e.g. 'about double' a time)"
    )
    report: dict[str, float] = Field(
        default_factory=dict,
        description="the values the report prints: {a, b} (pairwise) or one per series variant, in the metric's units",
    )
    report_source: str = Field("", description="where the report prints them, e.g. 'table 2' or 'read off figure 3'")
    size_margin: float | None = Field(
        None,
        ge=0.0,
        description="size: our effect is the report's when it lies within the report's ± this (TOST), in the "
        "claim's units (ratio claims: on the log ratio); None = the default of finegrain.report.claims.size_margin",
    )
    id: str = Field(
        "", pattern=r"^[A-Za-z0-9_-]*$", description="a short name the preset's `results` inventory cites it by"
    )
    split: Literal[SPLITS] | None = Field(  # type: ignore[valid-type]
        None,
        description="the split the report's numbers are on (shown with the claim); a test.* / val.* metric must be "
        "on it (like with like) unless `unmeasured` says why not",
    )
    unmeasured: str = Field(
        "", description="the report did not measure the claim's metric: what it measured instead (shown with the claim)"
    )
    target: float | None = Field(
        None,
        description="equal claims: the a - b (ratio: a / b) expected instead of 0 (1), e.g. 500 / 1020 for 'time is "
        "proportional to the training-set size'; the margin is around it",
    )
    concavity: Literal["slope", "gain"] = Field(
        "slope",
        description="rising_diminishing: compare the slopes per x unit before and after the middle point (slope), or "
        "the gains themselves (gain: the report's 'the jump 200 -> 500 is larger than 500 -> 1020')",
    )

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, v: dict) -> dict:
        if isinstance(v, dict):
            v = {**v, **{k: [v[k]] for k in ("a", "b") if isinstance(v.get(k), str)}}
        return v

    @model_validator(mode="after")
    def _shape(self) -> ClaimCfg:
        if self.expect in ("rising", "rising_diminishing"):
            if self.a or self.b:
                raise ValueError(f"a: {self.expect!r} claims compare a series, not a and b")
            if len(self.series) < 2 or len(self.x) != len(self.series):
                raise ValueError("x: a series claim needs >= 2 series variants and one x value each")
            if self.expect == "rising_diminishing" and len(self.series) < 3:
                raise ValueError("series: rising_diminishing needs >= 3 points")
            if any(x1 >= x2 for x1, x2 in zip(self.x, self.x[1:], strict=False)):
                raise ValueError(f"x: must increase (got {self.x})")
            if self.compare == "ratio":
                raise ValueError("compare: 'ratio' is for pairwise claims")
            if self.metric_b is not None:
                raise ValueError("metric_b: a series claim compares one metric")
            if self.report and set(self.report) != set(self.series):
                raise ValueError(f"report: needs one value per series variant {self.series}, got {sorted(self.report)}")
        else:
            if self.metric_b and self.metric_b.startswith("perf.") != self.metric.startswith("perf."):
                raise ValueError(f"metric_b: {self.metric_b} and metric {self.metric} must both be timings or neither")
            if self.report and set(self.report) != {"a", "b"}:
                raise ValueError(f"report: needs the report's values of a and b, got {sorted(self.report)}")
            if self.compare == "ratio" and any(v <= 0 for v in self.report.values()):
                raise ValueError("report: 'ratio' claims need positive values")
            if not self.a or not self.b or self.series:
                raise ValueError(f"b: {self.expect!r} claims need variants a and b (and no series)")
            if self.expect == "equal" and self.margin <= 0:
                raise ValueError("margin: 'equal' claims need margin > 0")
        if self.target is not None and self.expect != "equal":
            raise ValueError(f"target: only 'equal' claims have one (this one expects {self.expect!r})")
        if self.target is not None and self.compare == "ratio" and self.target <= 0:
            raise ValueError(f"target: a ratio claim's target must be > 0 (got {self.target})")
        if self.concavity != "slope" and self.expect != "rising_diminishing":
            raise ValueError("concavity: only 'rising_diminishing' claims have one")
        return self._like_with_like()

    def _like_with_like(self) -> ClaimCfg:
        """A test.* / val.* metric is on the split the report's numbers are on, unless `unmeasured` says why not
        (presets must name the split: finegrain.presets.apply checks it)."""
        if self.unmeasured:
            return self
        for metric in filter(None, (self.metric, self.metric_b)):
            group, _, key = metric.partition(".")
            if group not in SPLITS:
                continue
            if self.split is not None and group != self.split:
                raise ValueError(
                    f"metric: the report's numbers are on {self.split}; compare like with like ({self.split}.{key}, "
                    f"not {metric}) or say in `unmeasured` why not"
                )
        return self

    def variants(self) -> list[str]:
        return [*self.a, *self.b, *self.series]

    @property
    def metric_text(self) -> str:
        """'test.top1', or 'a: <metric>; b: <metric_b>' when the sides compare different metrics."""
        return f"a: {self.metric}; b: {self.metric_b}" if self.metric_b else self.metric

    @property
    def split_text(self) -> str:
        """'val split', 'the report did not measure this: <what it measured>' or '' (no split: times, parameters)."""
        if self.unmeasured:
            return f"the report did not measure this: {self.unmeasured}"
        return f"{self.split} split" if self.split else ""

    def applies(self, scale: str | None, dataset: str) -> bool:
        """Testable at this preset scale on this dataset."""
        return (not self.scales or scale in self.scales) and (not self.datasets or dataset in self.datasets)


def family_size(report: ReportCfg, dataset: str) -> int:
    """Holm's family: the claims testable at report.scale, counted once per dataset of the preset they apply to (its
    `datasets`, and this run's dataset when it is another), whether or not this run judges them."""
    datasets = list(dict.fromkeys([*report.datasets, dataset]))
    return sum(c.applies(report.scale, d) for c in report.claims for d in datasets)


def family_note(report: ReportCfg, dataset: str) -> str:
    """One line on Holm's family when it holds claims this run does not judge (another dataset's run), or ''."""
    judged, family = sum(c.applies(report.scale, dataset) for c in report.claims), family_size(report, dataset)
    if family == judged:
        return ""
    runs = ", ".join(dict.fromkeys([*report.datasets, dataset]))
    return (
        f"Holm's family is the preset's {family} claims over its runs on {runs}: this run judges {judged}, the other "
        f"{family - judged} count with p 1"
    )


class TableRowCfg(Strict):
    """One row of a report's table: the variants that reproduce it (several are pooled) and the printed values."""

    label: str = Field(min_length=1, description="the row as the report names it")
    variants: list[str] = Field(default_factory=list, description="our variants for the row (a str is one; pooled)")
    values: dict[str, float | None] = Field(
        default_factory=dict, description="column -> the report's printed value in the metric's units (null: none)"
    )
    dataset: str | None = Field(None, description="the dataset of the row, when the table has several")

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, v: dict) -> dict:
        if isinstance(v, dict):
            v = {**v, **({"variants": [v["variants"]]} if isinstance(v.get("variants"), str) else {})}
        return v


class TableCfg(Strict):
    """A table as the report prints it: `columns` maps each printed column to the metric it reports."""

    title: str = Field(min_length=1)
    source: str = Field(min_length=1, description="where in the report, e.g. 'table 2' or 'figure 4 (values)'")
    columns: dict[str, Literal[METRICS]] = Field(min_length=1)  # type: ignore[valid-type]
    rows: list[TableRowCfg] = Field(min_length=1)
    note: str = ""

    @model_validator(mode="after")
    def _values_in_columns(self) -> TableCfg:
        for row in self.rows:
            extra = set(row.values) - set(self.columns)
            if extra:
                raise ValueError(f"rows: {row.label!r} has values for no column {sorted(extra)} of {self.title!r}")
        return self

    def variants(self) -> list[str]:
        return list(dict.fromkeys(v for row in self.rows for v in row.variants))


class ReportCfg(Strict):
    """report: the preset (and scale) params.yaml came from, and the claims the report stage judges."""

    preset: str | None = None
    scale: str | None = Field(None, description="the preset's scale, e.g. full | cpu; claims may be limited to some")
    claims: list[ClaimCfg] = Field(default_factory=list)
    datasets: list[str] = Field(
        default_factory=list,
        description="the preset's datasets, one run each (D: cub200, stanford_dogs); Holm's family is the claims of "
        "every one of them ([] = this run's data.dataset only)",
    )
    tables: list[TableCfg] = Field(
        default_factory=list, description="the report's own tables, printed with ours beside (rows not run: blank)"
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> ReportCfg:
        ids = [c.id for c in self.claims if c.id]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"claims: id {repeated[0]!r} names more than one claim")
        return self


class GateCfg(Strict):
    """`finegrain gate` (report/gate.py): a drop of `metric` is a regression when a one-sided Welch test over the
    runs' seeds rejects "no drop" at `alpha` (Holm over the variants) and the drop is at least `min_drop`."""

    metric: str = "test.top1"
    alpha: float = Field(0.05, gt=0.0, lt=1.0, description="one-sided Welch test level, after Holm over the variants")
    min_drop: float = Field(0.01, ge=0.0, description="a smaller drop is never a regression")
    tolerance: float = Field(0.04, ge=0.0, description="one seed on either side (no spread): largest allowed drop")


def other_dataset_claims(report: ReportCfg, dataset: str) -> str:
    """One line on `report`'s claims left out because they are about other datasets than `dataset`, or ''."""
    other = [c for c in report.claims if c.datasets and dataset not in c.datasets]
    if not other:
        return ""
    about = sorted({d for c in other for d in c.datasets})
    return (
        f"{len(other)} of {len(report.claims)} claims are about {', '.join(about)} and are left out: this run is on "
        f"{dataset} (data.dataset)"
    )
