"""What the label-efficiency curves are worth in labels (benchmarks/label_efficiency.py reports them):

- **label savings**: per seed, how many labels the method needs to reach random's mIoU at the largest budget,
  read off the method's curve with linear interpolation in log2(labels) (gains grow with the log of the labels,
  so a curve is close to a line there); the share of random's labels that is saved, mean ± std over seeds;
- **headline ratio**: the full method's mIoU with 1/30 of the pool labeled as a share of the supervised baseline
  trained on every pool label (the IJCV extension's "92 % of the fully-supervised performance with 1/30 of the
  labels", docs/method.md §5.3), interpolated on the method's curve when 1/30 is not one of the budgets.

A seed whose method curve starts above the target needs at most the first budget (censored: "≤"); one that never
reaches it needs more than the last ("> ", no saving). Both are counted and shown, not dropped.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Reach:
    labels: float  # labels needed (interpolated), or the bound when censored
    bound: str  # "=" interpolated, "≤" reached at the first budget already, ">" not reached at the last


def labels_to_reach(labels: Sequence[int], miou: Sequence[float], target: float) -> Reach:
    """The labels at which a curve (ascending labels) first reaches `target`, interpolated in log2(labels)."""
    if miou[0] >= target:
        return Reach(labels[0], "≤")
    for (l0, m0), (l1, m1) in zip(zip(labels, miou, strict=True), zip(labels[1:], miou[1:], strict=True), strict=False):
        if m1 >= target:
            t = (target - m0) / (m1 - m0)  # m1 > m0 here: m0 < target ≤ m1
            return Reach(2 ** (math.log2(l0) + t * (math.log2(l1) - math.log2(l0))), "=")
    return Reach(labels[-1], ">")


def interpolate(labels: Sequence[int], miou: Sequence[float], at: float) -> float | None:
    """A curve's mIoU at `at` labels, linear in log2(labels); None outside the measured range."""
    if not labels[0] <= at <= labels[-1]:
        return None
    for l0, l1, m0, m1 in zip(labels, labels[1:], miou, miou[1:], strict=False):
        if l0 <= at <= l1:
            t = 0.0 if l1 == l0 else (math.log2(at) - math.log2(l0)) / (math.log2(l1) - math.log2(l0))
            return m0 + t * (m1 - m0)
    return miou[-1]


@dataclass(frozen=True)
class Curve:
    seed: int
    labels: list[int]
    miou: list[float]


def savings_table(method: Sequence[Curve], baseline: Sequence[Curve], method_name: str, baseline_name: str) -> str:
    """Markdown: per seed the labels the method needs to reach the baseline's mIoU at its largest budget, and the
    summary (mean ± std of the labels needed and of the share saved, over the seeds where both ran)."""
    by_seed = {c.seed: c for c in baseline}
    rows, needed = [], []
    for curve in sorted(method, key=lambda c: c.seed):
        base = by_seed.get(curve.seed)
        if base is None:
            continue
        target = base.miou[-1]
        reach = labels_to_reach(curve.labels, curve.miou, target)
        needed.append(reach)
        shown = f"{reach.bound} {reach.labels:.1f}" if reach.bound != "=" else f"{reach.labels:.1f}"
        saved = 1 - reach.labels / base.labels[-1]
        rows.append(f"| {curve.seed} | {100 * target:.1f} | {shown} | {100 * saved:.0f} % |")
    if not needed:
        return "no seed has both curves"
    largest = baseline[0].labels[-1]
    values = [r.labels for r in needed]
    mean, std = statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
    censored = {b: sum(r.bound == b for r in needed) for b in ("≤", ">")}
    lines = [
        f"| seed | {baseline_name} at {largest} labels (%) | labels {method_name} needs | saved |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"{method_name} reaches {baseline_name}'s mIoU at {largest} labels with {mean:.1f} ± {std:.1f} labels "
        f"(mean ± std over {len(values)} seeds): {100 * (1 - mean / largest):.0f} % of the labels saved; "
        f"censored: {censored['≤']} reached it at the first budget already (≤), {censored['>']} never did (>, "
        "counted at the last budget)",
    ]
    return "\n".join(lines)


def headline_table(method: Sequence[Curve], full: dict[int, float], n_pool: int) -> str:
    """Markdown: the method's mIoU at 1/30 of the pool as a share of full supervision, per seed and mean ± std."""
    at = n_pool / 30
    rows, shares = [], []
    for curve in sorted(method, key=lambda c: c.seed):
        if curve.seed not in full:
            continue
        value = interpolate(curve.labels, curve.miou, at)
        if value is None:
            rows.append(f"| {curve.seed} | outside the budgets {curve.labels[0]}–{curve.labels[-1]} | "
                        f"{100 * full[curve.seed]:.1f} | — |")  # fmt: skip
            continue
        shares.append(value / full[curve.seed])
        rows.append(f"| {curve.seed} | {100 * value:.1f} | {100 * full[curve.seed]:.1f} | {100 * shares[-1]:.0f} % |")
    summary = "no seed measured both"
    if shares:
        std = statistics.stdev(shares) if len(shares) > 1 else 0.0
        summary = (f"the method with 1/30 of the pool ({at:.1f} labels) reaches {100 * statistics.fmean(shares):.0f} "
                   f"± {100 * std:.0f} % of full supervision ({n_pool} labels), {len(shares)} seeds; the paper's "
                   "figure on Cityscapes is 92 %")  # fmt: skip
    head = ["| seed | method at 1/30 of the pool (%) | supervised, all pool labels (%) | share |",
            "|---|---:|---:|---:|"]  # fmt: skip
    return "\n".join([*head, *rows, "", summary])
