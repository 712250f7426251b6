"""Ablation of the method's contributions on the synthetic world: mIoU (mean ± std over seeds) per row.

Rows (each adds one thing to the row above, as in method.md §1.6 / §5.2), all with the same label budget and the
same number of iterations:
  1. supervised baseline       random encoder and decoder, CE on the labeled images only
  2. + transfer from depth     encoder and decoder initialised from the self-supervised depth model
  3. + mean teacher, ClassMix  EMA teacher pseudo-labels on unlabeled images mixed with ClassMix
  4. + DepthMix                mix masks from the depth model's disparity instead of classes
  5. + multi-task              PAD multi-task net, online depth for DepthMix, depth loss on both batches

Steps: generate the synthetic world (`models.data.synth`) and train one depth model on its train sequences
(`models.depth_train`), both cached under --work; then every (row, seed) run, cached per seed in
results_seed<k>.json, so an interrupted run continues and processes given different seeds can share one --work.
Writes ablation.md (table) and ablation.png (bar plot) under --work and prints the table.

    python -m benchmarks.ablation [--quick] [--work DIR] [--seeds 0 1 2] [--iterations N] [--labels N]
                                  [--size H W] [--sequences N] [--depth-iters N] [--rows 1,2] [--report-only]

The method's baseline uses an ImageNet encoder; no weights can be downloaded here, so row 1 starts from random
weights, which makes "transfer" a larger step than in the paper.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.work_lock import exclusive

log = logging.getLogger("ablation")

# row name → (variant, mean teacher, mix)
ROWS: dict[str, tuple[str, bool, str]] = {
    "supervised baseline": ("scratch", False, "none"),
    "+ transfer from depth": ("transfer", False, "none"),
    "+ mean teacher, ClassMix": ("transfer", True, "classmix"),
    "+ DepthMix": ("transfer", True, "depthmix"),
    "+ multi-task": ("multitask", True, "depthmix"),
}


@dataclass(frozen=True)
class Setup:
    """Sizes of one ablation; `quick()` is the CI smoke version."""

    sequences: int = 100  # synthetic sequences (80% train, 20% val)
    size: tuple[int, int] = (64, 128)
    num_ch_dec: tuple[int, ...] = (16, 32, 32, 64, 64)  # narrow decoders: a shared 2-core CPU, not the method's widths
    depth_iters: int = 500
    labels: int = 10
    iterations: int = 200
    seeds: tuple[int, ...] = (0, 1, 2)
    lr_step_at: float = 0.75

    @classmethod
    def quick(cls) -> Setup:
        return cls(sequences=10, size=(32, 64), num_ch_dec=(8, 8, 16, 16, 16), depth_iters=2, labels=2, iterations=2,
                   seeds=(0,))  # fmt: skip


def make_world(work: Path, setup: Setup) -> Path:
    from models.data.synth import generate_world

    world = work / f"world_{setup.sequences}_{setup.size[0]}x{setup.size[1]}"
    if not (world / "world.json").exists():
        generate_world(world, sequences=setup.sequences, size=setup.size, seed=0, val_fraction=0.2, frames=3)
    return world


def make_depth(work: Path, world: Path, setup: Setup, device: str) -> Path:
    """One small self-supervised depth model on the world's train sequences (cached; resumes when interrupted)."""
    from contracts.cityscapes import find_frames
    from models.data.datasets import SequenceDataset
    from models.depth_model import DepthConfig
    from models.depth_train import train_depth

    widths = "-".join(map(str, setup.num_ch_dec))
    path = work / f"{world.name}_depth{setup.depth_iters}_dec{widths}.pt"
    done = path.with_suffix(".done")
    if not done.exists():
        cfg = DepthConfig.small(finetune_iters=setup.depth_iters, num_ch_dec=setup.num_ch_dec, checkpoint_every=100,
                                log_every=50)  # fmt: skip
        data = SequenceDataset(find_frames(world, "train"))
        t0 = time.perf_counter()
        train_depth(cfg, data, device=device, checkpoint_path=path,
                    progress=lambda stage, f, msg: log.info("depth %s", msg))  # fmt: skip
        done.write_text(f"{time.perf_counter() - t0:.1f} s\n")
    return path


def run_row(row: str, seed: int, world: Path, depth: Path, setup: Setup, device: str) -> dict[str, Any]:
    """Train one (row, seed): its val mIoU, per-class IoU and, for the mean-teacher rows, the share of unlabeled
    pixels where the teacher was confident enough to weigh (`confidence`, last logged step): near 0, the row cannot
    differ from the one above it."""
    from models.checkpoint import load_checkpoint
    from models.depth_model import load_depth_model
    from models.encoder import imagenet_or_none
    from models.seg_data import seg_datasets
    from models.seg_net import config_from_depth
    from models.seg_train import SegTrainConfig, train_segmentation

    variant, mean_teacher, mix = ROWS[row]
    net = config_from_depth(load_checkpoint(depth)["config"], variant, 19)
    # the method's supervised baseline starts from ImageNet: without the file here it starts from random weights,
    # which inflates the transfer row (imagenet_or_none warns)
    weights = imagenet_or_none(net.encoder_layers) if variant == "scratch" else None
    cfg = SegTrainConfig(net=net, iterations=setup.iterations, mean_teacher=mean_teacher, mix=mix, seed=seed,
                         lr_step_at=setup.lr_step_at, checkpoint_every=0, encoder_weights=weights)  # fmt: skip
    multitask = variant == "multitask"
    data = seg_datasets(world, setup.labels, seed=seed, mix=mix, neighbours=multitask)
    depth_net = None
    if mean_teacher and mix == "depthmix" and not multitask:
        depth_net = load_depth_model(depth, device)[0].requires_grad_(False)
    result = train_segmentation(
        cfg, data.labeled, data.unlabeled if mean_teacher else None, device=device,
        init=None if variant == "scratch" else depth, val_ds=data.val,
        depth_net=depth_net, log_every=max(1, setup.iterations // 5),
    )  # fmt: skip
    # the last training step's statistics (the history ends with the final evaluation's {"step", "miou"})
    last = next((h for h in reversed(result.history) if "sup" in h), {})
    return {"miou": result.miou, "confidence": float(last.get("confidence", 0.0)), "per_class": result.per_class}


def summarise(results: dict[str, dict[str, float]]) -> list[tuple[str, float, float, int]]:
    """(row, mean, std, n) in row order; std is the sample std (0 for one seed)."""
    out = []
    for row in ROWS:
        vals = list(results.get(row, {}).values())
        if vals:
            out.append((row, statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals)))
    return out


def paired_gain(results: dict[str, dict[str, dict[str, Any]]], row: str, other: str) -> str:
    """`row` against `other` on the seeds both ran: mean Δ ± std of the per-seed Δ (points), and on how many seeds
    `row` is ahead. Paired, because a seed fixes the labeled images, and those alone move mIoU by points."""
    pairs = [run["miou"] - results[other][s]["miou"] for s, run in results.get(row, {}).items()
             if s in results.get(other, {})]  # fmt: skip
    if not pairs:
        return "—"
    spread = f" ± {100 * statistics.stdev(pairs):.2f}" if len(pairs) > 1 else ""
    return f"{100 * statistics.fmean(pairs):+.2f}{spread} ({sum(d > 0 for d in pairs)}/{len(pairs)})"


def markdown_table(
    summary: list[tuple[str, float, float, int]], setup: Setup, results: dict[str, dict[str, dict[str, Any]]]
) -> str:
    """The table: mean ± std per row, the paired gain over the row above with how many seeds it holds on, and the
    teacher's final confident share (the pseudo-label weight) for the mean-teacher rows; then the last row against
    the first (the target: the full method beats the supervised baseline)."""
    lines = [
        f"{setup.labels} labels, {setup.iterations} iterations, {setup.size[0]}×{setup.size[1]} synthetic world "
        f"({setup.sequences} sequences), depth {setup.depth_iters} iterations, seeds {list(setup.seeds)}",
        "",
        "| row | val mIoU (%) mean ± std | Δ vs row above, paired ± std (seeds ahead) | teacher confident share, end "
        "| seeds |",
        "|---|---:|---:|---:|---:|",
    ]
    above: str | None = None
    for row, mean, std, n in summary:
        gain = "—" if above is None else paired_gain(results, row, above)
        conf = [run["confidence"] for run in results[row].values()]
        shown = f"{statistics.fmean(conf):.2f}" if ROWS[row][1] else "—"
        lines.append(f"| {row} | {100 * mean:.2f} ± {100 * std:.2f} | {gain} | {shown} | {n} |")
        above = row
    if len(summary) > 1:
        first, last = summary[0][0], summary[-1][0]
        lines += ["", f"{last} against {first}: {paired_gain(results, last, first)} points (paired ± std, seeds ahead)"]
    return "\n".join(lines) + "\n"


def bar_plot(summary: list[tuple[str, float, float, int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [r[0] for r in summary]
    ax.bar(range(len(summary)), [100 * r[1] for r in summary], yerr=[100 * r[2] for r in summary], capsize=4)
    ax.set_xticks(range(len(summary)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("val mIoU (%)")
    ax.set_title("Ablation on the synthetic world")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _results_path(work: Path, seed: int) -> Path:
    return work / f"results_seed{seed}.json"


def load_results(work: Path, setup: Setup) -> dict[str, dict[str, dict[str, Any]]]:
    """row → seed → {"miou", "confidence", "per_class"} of every finished run of this setup (other sizes' files
    are ignored)."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for seed in setup.seeds:
        for row, run in _stored_runs(work, seed, setup).items():
            results.setdefault(row, {})[str(seed)] = run
    return results


def _stored_runs(work: Path, seed: int, setup: Setup) -> dict[str, dict[str, Any]]:
    """row → run of `seed` in this setup's results file (another setup's file counts as empty)."""
    path = _results_path(work, seed)
    stored = json.loads(path.read_text()) if path.exists() else {}
    return stored.get("runs", {}) if stored.get("setup") == _setup_key(setup) else {}


def _store_run(work: Path, seed: int, setup: Setup, row: str, run: dict[str, Any]) -> None:
    """Add one run to the seed's file: read, merged and replaced under a lock, so two processes running other rows of
    the same seed (`--rows`) keep each other's results."""
    path = _results_path(work, seed)
    with exclusive(path.with_suffix(".lock")):
        runs = {**_stored_runs(work, seed, setup), row: run}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"setup": _setup_key(setup), "runs": runs}, indent=1))
        tmp.replace(path)


def _setup_key(setup: Setup) -> str:
    return json.dumps({k: v for k, v in setup.__dict__.items() if k != "seeds"})


def run_ablation(
    work: Path, setup: Setup, device: str = "cpu", *, report_only: bool = False, rows: list[str] | None = None
) -> tuple[str, Path]:
    """Everything: world, depth model, all (row, seed) runs, table and plot. Returns (markdown, plot path).

    Each seed's runs are cached in their own `results_seed<k>.json`, so processes given different seeds or rows can
    share one --work (the first builds the world and depth model, the others wait for it under a lock) and an
    interrupted run continues. `rows` runs only those rows (default: all)."""
    work.mkdir(parents=True, exist_ok=True)
    if not report_only:
        with exclusive(work / "prepare.lock"):  # parallel processes build the world and depth model once
            world = make_world(work, setup)
            depth = make_depth(work, world, setup, device)
        for seed in setup.seeds:
            for row in rows or ROWS:
                if row in _stored_runs(work, seed, setup):
                    continue
                t0 = time.perf_counter()
                run = run_row(row, seed, world, depth, setup, device)
                log.info("%s seed %d: %s (%.0f s)", row, seed, run, time.perf_counter() - t0)
                _store_run(work, seed, setup, row, run)
    results = load_results(work, setup)
    summary = summarise({row: {s: run["miou"] for s, run in seeds.items()} for row, seeds in results.items()})
    table = markdown_table(summary, setup, results)
    (work / "ablation.md").write_text(table)
    plot = work / "ablation.png"
    bar_plot(summary, plot)
    return table, plot


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny world, 2 iterations, 1 seed (the CI smoke test)")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out/ablation"))
    ap.add_argument("--seeds", type=int, nargs="+")
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--labels", type=int)
    ap.add_argument("--depth-iters", type=int)
    ap.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="image size of the synthetic world")
    ap.add_argument("--sequences", type=int, help="synthetic sequences (80%% train, 20%% val)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--report-only", action="store_true", help="only the table of the runs finished so far")
    ap.add_argument("--rows", help="run only these rows, by number (1 = supervised baseline … 5 = + multi-task), "
                    "e.g. 1,2")  # fmt: skip
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    setup = Setup.quick() if args.quick else Setup()
    overrides = {"seeds": tuple(args.seeds) if args.seeds else None, "iterations": args.iterations,
                 "labels": args.labels, "depth_iters": args.depth_iters, "sequences": args.sequences,
                 "size": tuple(args.size) if args.size else None}  # fmt: skip
    setup = Setup(**{**setup.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    from models.device import resolve_device

    device = resolve_device(args.device)
    rows = [list(ROWS)[int(k) - 1] for k in args.rows.split(",")] if args.rows else None
    table, plot = run_ablation(args.work, setup, device, report_only=args.report_only, rows=rows)
    print(table)
    print(f"plot: {plot}")


if __name__ == "__main__":
    main()
