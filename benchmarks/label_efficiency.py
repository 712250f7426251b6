"""Label efficiency: val mIoU at equal label budgets for `random`, `entropy` and the method's `diversity+difficulty`
selection (design.md "Performance targets", method.md §4), the active-learning loop without HTTP.

    python -m benchmarks.label_efficiency                     # CPU, synthetic world (`--config cpu`)
    python -m benchmarks.label_efficiency --quick             # smoke size: 1 seed, 1 budget step, few iterations
    python -m benchmarks.label_efficiency --config gpu-cityscapes --cityscapes /data/cityscapes   # method-sized, GPU

For each seed and strategy the loop starts with no labels (cold start: a seeded random image, then farthest points
for the diversity strategies; random images for `random` and `entropy`) and grows the labeled set to each budget in
turn: train the segmentation model on the labels (transfer from depth, mean teacher, DepthMix: the full method, §3),
record its val mIoU, score the pool with it (features, difficulty student, entropy) and select up to the next budget.
One self-supervised depth model per run is shared by every seed and strategy: it needs no labels, so sharing it keeps
the comparison about selection, and saves its pretraining cost. A labeled set reached by two strategies (the cold
start of `random` and `entropy` is the same seeded draw) is trained once. Writes `label_efficiency.md` (markdown
table, mean ± std over seeds; then the label savings of the method against random and, with `--full-supervision`,
the headline ratio: benchmarks/savings.py), `label_efficiency.json` (every run) and `label_efficiency.png` into
`--out`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.work_lock import exclusive

STRATEGIES = ("random", "entropy", "diversity+difficulty")


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one benchmark configuration. `settings` is a project-settings dict (`RoundConfig.from_settings`)."""

    size: tuple[int, int]
    sequences: int  # synthetic world: sequences rendered (≈ 80% pool, 20% val)
    budgets: tuple[float, ...]  # fractions of the pool
    seeds: tuple[int, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    world_seed: int = 7
    cityscapes: bool = False


CONFIGS: dict[str, BenchConfig] = {
    # Sized for ≤ 35 min on 2 shared cores; its models stay at chance (benchmarks/results/history/label_efficiency.md).
    "cpu": BenchConfig(
        size=(32, 64), sequences=125, budgets=(0.02, 0.04, 0.08, 0.16), seeds=(0, 1, 2),
        settings={"preset": "tiny", "depth": {"finetune_iters": 30, "batch_size": 4, "checkpoint_every": 10},
                  "seg": {"iterations": 24, "checkpoint_every": 1000}, "student": {"iters": 6},
                  "score_batch_size": 16},
    ),
    # The longer CPU run (≈ 1 h on 2 idle cores): a larger world at 48×96 with the demo's tiny networks trained long
    # enough to leave chance level (depth 1500, segmentation 600, student 100 iterations), budgets 2/4/8 %, and
    # `diversity` alone next to the method to separate the two terms of §4.3. `benchmarks/coverage.py` reuses its
    # world and depth model (same --out).
    "cpu-long": BenchConfig(
        size=(48, 96), sequences=300, budgets=(0.02, 0.04, 0.08), seeds=(0, 1, 2),
        settings={"preset": "tiny", "depth": {"finetune_iters": 1500, "batch_size": 4, "checkpoint_every": 100},
                  "seg": {"iterations": 600, "checkpoint_every": 1000}, "student": {"iters": 100},
                  "score_batch_size": 16},
    ),
    # cpu-long's world at 32×64, budgets 1/30, 2/30 and 4/30 of the pool (8 / 16 / 32 labels: 1/30 is the headline
    # ratio's budget, no interpolation), segmentation 800 iterations; with `--full-supervision` for the headline
    # ratio. Sized for five seeds in a session, and too short to rank anything: all 240 labels gave what 8 gave
    # (benchmarks/results/history/label_efficiency.md).
    "cpu-32": BenchConfig(
        size=(32, 64), sequences=300, budgets=(1 / 30, 2 / 30, 4 / 30), seeds=(0, 1, 2, 3, 4),
        settings={"preset": "tiny", "depth": {"finetune_iters": 1500, "batch_size": 4, "checkpoint_every": 100},
                  "seg": {"iterations": 800, "checkpoint_every": 1000}, "student": {"iters": 100},
                  "score_batch_size": 16},
    ),
    # cpu-32 where labels are the limit: segmentation 4,000 iterations (the ablation's label-limited regime: there
    # all 160 labels gave +7.9 points over 10, where 800 iterations gave none), on the labels only: no mean teacher,
    # no mixing, as the method's own data-selection comparison trains (docs/method.md §5.2), and each training takes
    # ≈ 5 CPU-min instead of ≈ 16. It compares how the strategies *select*; ≈ 50 CPU-min a seed (measured).
    "cpu-32-4k": BenchConfig(
        size=(32, 64), sequences=300, budgets=(1 / 30, 2 / 30, 4 / 30), seeds=(0, 1, 2, 3, 4),
        settings={"preset": "tiny", "depth": {"finetune_iters": 1500, "batch_size": 4, "checkpoint_every": 100},
                  "seg": {"iterations": 4000, "checkpoint_every": 1000, "mean_teacher": False, "mix": "none"},
                  "student": {"iters": 100}, "score_batch_size": 16},
    ),
    # cpu-long's world with the method's decoder widths (64, 128, 128, 256, 256): 8192-D diversity features as in
    # the paper, to see what the feature width does to the selection (`benchmarks.coverage --config cpu-wide`).
    "cpu-wide": BenchConfig(
        size=(48, 96), sequences=300, budgets=(0.02, 0.04, 0.08), seeds=(0, 1, 2),
        settings={"preset": "small", "depth": {"finetune_iters": 1200, "batch_size": 4, "checkpoint_every": 100},
                  "seg": {"iterations": 600, "checkpoint_every": 1000}, "student": {"iters": 100},
                  "score_batch_size": 16},
    ),  # fmt: skip
    # CI smoke: one seed, one budget step (cold start → 1 training → select → 1 training), a handful of iterations.
    "quick": BenchConfig(
        size=(32, 64), sequences=14, budgets=(0.2, 0.4), seeds=(0,),
        settings={"preset": "tiny", "depth": {"finetune_iters": 2, "batch_size": 2, "checkpoint_every": 1000},
                  "seg": {"iterations": 2, "checkpoint_every": 1000}, "student": {"iters": 2}, "score_batch_size": 8},
    ),
    # Real Cityscapes on one GPU with the `method` preset (ResNet-101 depth 300k+100k iterations, 40k segmentation
    # iterations, ResNet-50 student; 512×1024) and the method's budgets, 100/200/372 of 2975 images (≈ 3.4/6.7/12.5 %).
    # The method's protocol except where docs/method.md §9–10 says.
    "gpu-cityscapes": BenchConfig(
        size=(512, 1024), sequences=0, budgets=(100 / 2975, 200 / 2975, 372 / 2975), seeds=(0, 1, 2),
        settings={"preset": "method", "device": "cuda", "score_batch_size": 8}, cityscapes=True,
    ),
}  # fmt: skip
# cpu-wide on a world four times larger (1200 sequences: a 960-image pool, so a 5 % selection is 48 images): less
# seed noise in the coverage comparison, and room for farthest points to spread (`coverage.py --config
# cpu-wide-large`, ≈ 30 min for 10 seeds after ≈ 7 min of depth training).
CONFIGS["cpu-wide-large"] = replace(CONFIGS["cpu-wide"], sequences=1200)
# cpu-wide-large at twice the resolution (96×192): do rare objects (trams, buses, traffic lights) become visible to
# 4×8-pooled depth features once they span more than a few pixels? (≈ 4× the training time.)
CONFIGS["cpu-wide-hires"] = replace(CONFIGS["cpu-wide-large"], size=(96, 192))
# The same world at 192×384 on one GPU, with depth trained 2.5× longer (3000 iterations) and 8 data-loading workers
# (so the GPU does not wait on one process decoding PNGs): the resolution trend of the coverage comparison one step
# further than a CPU can take it in a session (`coverage.py --config gpu-wide-hires`; on an H100 depth took 6.5 min,
# then ≈ 2 min a seed).
CONFIGS["gpu-wide-hires"] = replace(
    CONFIGS["cpu-wide-large"], size=(192, 384),
    settings={**CONFIGS["cpu-wide-large"].settings, "device": "cuda",
              "depth": {"finetune_iters": 3000, "batch_size": 4, "checkpoint_every": 500, "num_workers": 8},
              "seg": {"iterations": 600, "checkpoint_every": 1000, "num_workers": 8}},
)  # fmt: skip


@dataclass
class Run:
    strategy: str
    seed: int
    labels: list[int] = field(default_factory=list)  # labels at each budget
    miou: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    picked: list[str] = field(default_factory=list)  # image paths in pick order (for class-coverage diagnostics)


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def budget_counts(fractions: tuple[float, ...], n_pool: int, min_labeled: int) -> list[int]:
    counts = [max(min_labeled, round(f * n_pool)) for f in fractions]
    if any(b >= a for a, b in zip(counts[1:], counts, strict=False)) or counts[-1] >= n_pool:
        raise SystemExit(
            f"budgets {fractions} of a pool of {n_pool} give {counts}: they must grow and stay below {n_pool}"
        )
    return counts


def load_data(cfg: BenchConfig, out: Path, cityscapes: Path | None) -> tuple[list, list]:
    from contracts.cityscapes import find_frames

    if cfg.cityscapes:
        if cityscapes is None:
            raise SystemExit(
                "--config gpu-cityscapes needs --cityscapes ROOT (leftImg8bit/, gtFine/, leftImg8bit_sequence/)"
            )
        return list(find_frames(cityscapes, "train")), list(find_frames(cityscapes, "val", require_neighbours=False))
    from models.data.synth.world import generate_world

    world = out / "world"
    if not (world / "world.json").exists():  # (world.json is written last: its presence means a finished world)
        with exclusive(out / "world.lock"):  # parallel --only-seeds processes render it once
            if not (world / "world.json").exists():
                generate_world(world, sequences=cfg.sequences, size=cfg.size, seed=cfg.world_seed,
                               workers=min(8, os.cpu_count() or 1))  # fmt: skip
    return list(find_frames(world, "train")), list(find_frames(world, "val", require_neighbours=False))


def depth_and_features(base, pool: list, out: Path, tag: str, device, log=print):
    """The run's self-supervised depth model (`out/depth.pt`, trained here unless a finished one is there) and the
    standardised depth features of the whole pool ((N, D) float32 tensor over a memory map). Neither depends on
    labels or strategy, so every seed and strategy (and `benchmarks/coverage.py`) shares them."""
    from models.checkpoint import load_checkpoint
    from models.features import load_features
    from models.rounds.pretrain import pretrain_depth
    from models.rounds.score import create_raw_features, feature_dim, score_range, standardise_features

    depth = out / "depth.pt"
    t = time.perf_counter()
    with exclusive(out / "depth.lock"):  # parallel --only-seeds processes wait for the first one's model
        trained = not depth.exists() or int(load_checkpoint(depth)["step"]) < base.depth.total_iters
        if trained:
            pretrain_depth(base, pool, depth, device=device)
    source = "trained here" if trained else f"reused {depth}"
    log(f"depth pretraining: {time.perf_counter() - t:.0f} s wall ({source})")
    raw = out / f"features_s{tag}.raw.npy"
    create_raw_features(raw, len(pool), feature_dim(depth))
    # One scoring pass, standardised once (§4.3 step 3).
    score_range(base, pool, 0, len(pool), depth, raw, device=device)
    return depth, load_features(standardise_features(raw, out / f"features_s{tag}.npy"))


def run_benchmark(cfg: BenchConfig, out: Path, *, cityscapes: Path | None = None,
                  strategies: tuple[str, ...] = STRATEGIES, log=print, on_run=None,
                  full_supervision: bool = False) -> list[Run]:  # fmt: skip
    import torch

    from models.device import resolve_device
    from models.rounds.config import RoundConfig
    from models.rounds.score import create_raw_features, feature_dim, score_range
    from models.rounds.select import select
    from models.rounds.train import train_segmentation_model, train_student

    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), cpu_seconds()
    pool, val = load_data(cfg, out, cityscapes)
    base = RoundConfig.from_settings(cfg.settings, size=None if cfg.cityscapes else cfg.size)
    device = resolve_device(base.device)
    counts = budget_counts(cfg.budgets, len(pool), base.min_labeled)
    (out / "pool.json").write_text(json.dumps({"n_pool": len(pool), "n_val": len(val), "budgets": counts}))
    log(f"pool {len(pool)}, val {len(val)}, budgets {counts} images, device {device}, "
        f"world/data {time.perf_counter() - t0:.0f} s")  # fmt: skip
    tag = "_".join(str(s) for s in cfg.seeds)  # per process: parallel processes must not rewrite each other's mmaps
    depth, features = depth_and_features(base, pool, out, tag, device, log)

    trained: dict[tuple[int, tuple[int, ...]], tuple[Path, float]] = {}  # (seed, labeled set) → (seg.pt, mIoU)
    runs: list[Run] = []
    for seed in cfg.seeds:
        for strategy in strategies:
            settings = {**cfg.settings, "strategy": strategy, "seed": seed}
            rc = replace(RoundConfig.from_settings(settings, size=base.size), num_classes=base.num_classes)
            run = Run(strategy, seed)
            labeled: list[int] = []  # pool indices, in pick order
            for k in range(len(counts) + 1):  # k: select up to counts[k]; the last pass only trains at counts[-1]
                count = counts[k] if k < len(counts) else None
                t = time.perf_counter()
                order = labeled + [i for i in range(len(pool)) if i not in set(labeled)]  # the round's pool order
                records = [pool[i] for i in order]
                n_lab = len(labeled)
                difficulty = entropy = None
                if n_lab:
                    key = (seed, tuple(sorted(labeled)))
                    if key not in trained:
                        work = out / f"p{tag}" / f"s{seed}" / f"{len(trained):03d}"
                        res = train_segmentation_model(rc, records[:n_lab], records[n_lab:], val, depth,
                                                          work / "seg.pt", device=device)  # fmt: skip
                        trained[key] = (res.checkpoint, res.miou)
                    seg_ckpt, miou = trained[key]
                    run.labels.append(n_lab)
                    run.miou.append(miou)
                if count is None:
                    run.seconds.append(time.perf_counter() - t)
                    break
                batch = count - n_lab if n_lab else counts[0]
                if n_lab and strategy != "random":
                    work = out / f"p{tag}" / f"s{seed}" / f"{strategy.replace('+', '_')}_{k}"
                    student = None
                    if rc.needs_difficulty:
                        student = train_student(rc, records[:n_lab], depth, work / "student.pt", step=k, device=device)
                    raw_k = work / "unused.raw.npy"  # features were computed once above; score_range writes them again
                    create_raw_features(raw_k, len(records), feature_dim(depth))
                    s = score_range(rc, records, 0, len(records), depth, raw_k, student_checkpoint=student,
                                       seg_checkpoint=seg_ckpt if strategy == "entropy" else None,
                                       device=device)  # fmt: skip
                    raw_k.unlink()
                    difficulty = s.difficulty if student is not None else None
                    entropy = s.entropy if strategy == "entropy" else None
                feats = features[torch.as_tensor(order)]
                picks = select(strategy, n_lab, batch, seed, features=feats, difficulty=difficulty, entropy=entropy,
                                  difficulty_weight=rc.difficulty_weight)  # fmt: skip
                labeled += [order[p.index] for p in picks]
                run.picked = [str(pool[i].image) for i in labeled]
                if n_lab:
                    run.seconds.append(time.perf_counter() - t)
            log(f"seed {seed} {strategy:<21} labels {run.labels} mIoU "
                + " ".join(f"{100 * m:.1f}" for m in run.miou)
                + f"  ({time.perf_counter() - t0:.0f} s wall, {cpu_seconds() - c0:.0f} s CPU so far)")  # fmt: skip
            runs.append(run)
            if on_run is not None:
                on_run(runs, counts, len(pool))
        if full_supervision:
            full = _full_supervision(out, tag, seed, cfg, base, pool, val, depth, device)
            log(f"seed {seed} supervised baseline on all {len(pool)} pool labels: mIoU {100 * full:.1f}")
            if on_run is not None:
                on_run(runs, counts, len(pool))
    return runs


# The supervised baseline of the method's comparisons (random init here unless ImageNet weights are on disk: no
# transfer, no mean teacher, no mixing), trained on every pool label: the "fully supervised" of the headline ratio.
FULL_SUPERVISION = {"variant": "scratch", "mean_teacher": False, "mix": "none"}


def _full_supervision(out: Path, tag: str, seed: int, cfg: BenchConfig, base, pool, val, depth, device) -> float:
    """One seed's supervised baseline on all pool labels, trained or read back (full_supervision_s<tag>.json)."""
    from models.rounds.config import RoundConfig
    from models.rounds.train import train_segmentation_model

    path = out / f"full_supervision_s{tag}.json"
    done = {int(k): v for k, v in json.loads(path.read_text()).items()} if path.exists() else {}
    if seed not in done:
        settings = {**cfg.settings, "seed": seed, "seg": {**cfg.settings.get("seg", {}), **FULL_SUPERVISION}}
        rc = replace(RoundConfig.from_settings(settings, size=base.size), num_classes=base.num_classes)
        res = train_segmentation_model(rc, pool, [], val, depth, out / f"p{tag}" / f"s{seed}" / "full" / "seg.pt",
                                       device=device)  # fmt: skip
        done[seed] = res.miou
        path.write_text(json.dumps(done, indent=1))
    return done[seed]


def report(runs: list[Run], counts: list[int], n_pool: int, out: Path) -> str:
    """The strategies' table, then label savings (the method against random) and the headline ratio (when the
    supervised baseline on all labels was run: `--full-supervision`)."""
    from benchmarks.savings import Curve, headline_table, savings_table

    def curves(strategy: str) -> list[Curve]:
        return [Curve(r.seed, r.labels, r.miou) for r in runs if r.strategy == strategy and r.miou]

    text = table(runs, counts, n_pool)
    method, baseline = curves("diversity+difficulty"), curves("random")
    if method and baseline:
        text += "\n\nLabel savings\n\n" + savings_table(method, baseline, "diversity+difficulty", "random")
    full: dict[int, float] = {}
    for path in sorted(out.glob("full_supervision_s*.json")):
        full.update({int(k): v for k, v in json.loads(path.read_text()).items()})
    if method and full:
        text += "\n\nHeadline ratio\n\n" + headline_table(method, full, n_pool)
    return text


def table(runs: list[Run], counts: list[int], n_pool: int) -> str:
    import numpy as np

    strategies = list(dict.fromkeys(r.strategy for r in runs))
    seeds = {s: sorted({r.seed for r in runs if r.strategy == s}) for s in strategies}
    # Columns run over different seeds (a cut-short run) say which, so no mean is read as another's peer.
    names = strategies
    if len({tuple(v) for v in seeds.values()}) > 1:
        names = [f"{s} (seeds {', '.join(map(str, seeds[s]))})" for s in strategies]
    head = "| labels (% of pool) | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (len(strategies) + 1)]
    for k, count in enumerate(counts):
        cells = []
        for s in strategies:
            vals = np.array([100 * r.miou[k] for r in runs if r.strategy == s and len(r.miou) > k])
            std = vals.std(ddof=1) if len(vals) > 1 else 0.0
            cells.append(f"{vals.mean():.1f} ± {std:.1f}" if len(vals) else "-")
        best = max(range(len(cells)), key=lambda i: float(cells[i].split()[0]) if cells[i] != "-" else -1)
        cells[best] = f"**{cells[best]}**"
        lines.append(f"| {count} ({100 * count / n_pool:.0f}%) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def class_coverage(runs: list[Run], pool_records: list, val_records: list, num_classes: int = 19) -> str:
    """Diagnostic table: per strategy and budget, how many of the classes present in val the labeled set contains,
    and the share of its labeled pixels that belong to the classes rarer than the pool's median class (mean over
    seeds). Selection can only beat random at small budgets by covering more (or rarer) classes per label."""
    import numpy as np

    from contracts.cityscapes import load_label

    labels = {Path(r.image).name: r.label for r in pool_records}  # by file name: the world may have moved
    hist = {}
    for path, label in labels.items():
        ids = load_label(label).ravel()
        hist[path] = np.bincount(ids[ids < num_classes], minlength=num_classes)
    pool_hist = sum(hist.values())
    present = pool_hist > 0
    rare = present & (pool_hist < np.median(pool_hist[present]))
    val_classes = np.zeros(num_classes, bool)
    for r in val_records:
        ids = load_label(r.label).ravel()
        val_classes |= np.bincount(ids[ids < num_classes], minlength=num_classes) > 0
    strategies = list(dict.fromkeys(r.strategy for r in runs))
    lines = ["| labels | " + " | ".join(f"{s}: classes / rare px %" for s in strategies) + " |",
             "|" + "---|" * (len(strategies) + 1)]  # fmt: skip
    for count in runs[0].labels:
        cells = []
        for s in strategies:
            covered, rare_share = [], []
            for r in runs:
                if r.strategy != s or not r.picked:
                    continue
                h = sum(hist[Path(p).name] for p in r.picked[:count])
                covered.append(int(((h > 0) & val_classes).sum()))
                rare_share.append(100 * h[rare].sum() / max(h.sum(), 1))
            cells.append(f"{np.mean(covered):.1f} / {np.mean(rare_share):.1f}" if covered else "-")
        lines.append(f"| {count} | " + " | ".join(cells) + " |")
    lines.append(f"\n{int(val_classes.sum())} classes occur in val; rare = {int(rare.sum())} classes below the pool's "
                 "median class pixel count; a uniform pick's expected rare-pixel share is "
                 f"{100 * pool_hist[rare].sum() / pool_hist.sum():.1f} %")  # fmt: skip
    return "\n".join(lines)


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for s in dict.fromkeys(r.strategy for r in runs):
        mine = [r for r in runs if r.strategy == s]
        labels = mine[0].labels
        m = np.array([[100 * x for x in r.miou] for r in mine])
        ax.errorbar(labels, m.mean(0), yerr=m.std(0, ddof=1) if len(mine) > 1 else None, marker="o", capsize=3, label=s)
    ax.set_xlabel("labeled images")
    ax.set_ylabel("val mIoU (%)")
    ax.set_xscale("log", base=2)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.label_efficiency", description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    parser.add_argument("--quick", action="store_true", help="same as --config quick")
    parser.add_argument("--out", type=Path, default=Path("label_efficiency_out"))
    parser.add_argument("--cityscapes", type=Path, help="Cityscapes root for --config gpu-cityscapes")
    parser.add_argument("--seeds", type=int, help="use the first N seeds of the configuration")
    parser.add_argument("--only-seeds", help="comma-separated seeds to run in this process (parallel processes sharing "
                        "--out: each writes label_efficiency_s<seeds>.json; --report-only merges them)")  # fmt: skip
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the table, plot and class-coverage diagnostic from --out's label_efficiency.json",
    )
    parser.add_argument("--seg-iterations", type=int, help="override the configuration's segmentation iterations")
    parser.add_argument("--budgets", help="override the budgets: comma-separated fractions of the pool")
    parser.add_argument(
        "--full-supervision",
        action="store_true",
        help="also train the supervised baseline on every pool label per seed (the headline ratio)",
    )
    args = parser.parse_args(argv)
    cfg = CONFIGS["quick" if args.quick else args.config]
    if args.seg_iterations:
        seg = {**cfg.settings.get("seg", {}), "iterations": args.seg_iterations}
        cfg = replace(cfg, settings={**cfg.settings, "seg": seg})
    if args.budgets:
        cfg = replace(cfg, budgets=tuple(float(x) for x in args.budgets.split(",")))
    if args.seeds:
        cfg = replace(cfg, seeds=tuple(range(args.seeds)))
    suffix = ""
    if args.only_seeds:
        cfg = replace(cfg, seeds=tuple(int(x) for x in args.only_seeds.split(",")))
        suffix = "_s" + "_".join(str(x) for x in cfg.seeds)
    strategies = tuple(args.strategies.split(","))
    t0, c0 = time.perf_counter(), cpu_seconds()
    name = "quick" if args.quick else args.config

    def write(runs: list[Run], counts: list[int], n_pool: int) -> str:
        """Table, JSON and plot of the runs so far (rewritten after every run, so a cut-short run still reports)."""
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        seeds = sorted({r.seed for r in runs})
        footer = (f"\n\nconfig `{name}`, seeds {seeds}, pool {n_pool} images, val mIoU (%) mean ± std over seeds; "
                  f"{wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU, "
                  f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")  # fmt: skip
        text = report(runs, counts, n_pool, args.out) + footer
        (args.out / f"label_efficiency{suffix}.md").write_text(text + "\n")
        (args.out / f"label_efficiency{suffix}.json").write_text(json.dumps([r.__dict__ for r in runs], indent=1))
        plot(runs, args.out / f"label_efficiency{suffix}.png")
        return text

    if args.report_only:
        merged: dict[tuple[str, int], Run] = {}
        for path in sorted(args.out.glob("label_efficiency*.json")):
            for r in json.loads(path.read_text()):
                run = Run(**r)
                if len(run.miou) >= len(merged.get((run.strategy, run.seed), Run("", 0)).miou):
                    merged[(run.strategy, run.seed)] = run
        order = ("random", "entropy", "diversity", "difficulty", "diversity+difficulty")
        runs = sorted(merged.values(), key=lambda r: (r.seed, order.index(r.strategy)))
        n_pool = _n_pool(args.out)
        seeds = sorted({r.seed for r in runs})
        footer = f"\n\nseeds {seeds}, pool {n_pool} images, val mIoU (%) mean ± std over seeds"
        text = report(runs, runs[0].labels, n_pool, args.out) + footer
        (args.out / "label_efficiency.md").write_text(text + "\n")
        plot(runs, args.out / "label_efficiency.png")
        print(text)
    else:
        runs = run_benchmark(cfg, args.out, cityscapes=args.cityscapes, strategies=strategies, on_run=write,
                             full_supervision=args.full_supervision)  # fmt: skip
        print(write(runs, runs[0].labels, _n_pool(args.out)))
    if not cfg.cityscapes and all(r.picked for r in runs):
        pool, val = load_data(cfg, args.out, None)
        coverage = class_coverage(runs, pool, val)
        (args.out / "class_coverage.md").write_text(coverage + "\n")
        print("\n" + coverage)
    bad = [m for r in runs for m in r.miou if not math.isfinite(m)]
    return 1 if bad else 0


def _n_pool(out: Path) -> int:
    return int(json.loads((out / "pool.json").read_text())["n_pool"])


if __name__ == "__main__":
    sys.exit(main())
