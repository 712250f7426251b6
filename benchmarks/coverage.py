"""Coverage of rare scenes and rare classes by a 5 % selection of the pool (issue 6, method.md §4), no segmentation
training: what each strategy puts in front of the annotators, measured against the synthetic world's ground truth.

    python -m benchmarks.coverage --out runs/le_long      # same --out as label_efficiency.py --config cpu-long
    python -m benchmarks.coverage --quick --out /tmp/cov  # smoke size

It shares `benchmarks/label_efficiency.py`'s world, depth model and pool features (same `--config` and `--out`;
they are made here when missing). Per seed and strategy it selects `--fraction` of the pool:
- `random`: π_s[:n] (the paper's random lists);
- `diversity` ("ds"): one farthest-point pass from the seeded image π_s[0] (method.md §4.3: diversity only
  collapses the schedule to a single step);
- `difficulty` ("us") and `diversity+difficulty` ("ds_us", the method): the method's doubling schedule scaled to the
  budget (n/4 → n/2 → n, as 25 → 50 → 100 → 200 of 2975): the first n/4 are the cold start (π_s[:n/4] for
  `difficulty`, farthest points from π_s[0] for the method), then at every step a difficulty student is trained from
  scratch on the labeled images (§4.2) and the pool is scored and selected up to the next size.

`--jobs N` runs the seeds in N processes (seed groups, round-robin) once the depth model is there, then joins their
reports: on a GPU they share the device, on a CPU the cores (`OMP_NUM_THREADS` = cores / N unless set). By hand the
same is separate runs sharing `--out`, one `--tag` each (started together, the first trains the depth model while
the others wait for it: benchmarks/work_lock.py). Every process rewrites its report after each seed, so a stopped
run keeps the seeds it finished, and a rerun reuses the difficulty students already trained under `--out` (keyed by
depth model, λ, iterations, seed, strategy and step); `--merge _a,_b,... --tag _all` joins finished runs' JSON into
one report without training anything.

Reported, mean ± std over seeds (`coverage.md`, `coverage.json`):
- class-pixel coverage: the share of the pool's pixels of each class that lie in the selected images (a uniform pick
  of 5 % of the images expects ≈ 5 % for every class), per class and averaged over the rare classes (below the
  median class pixel count of the pool);
- scene archetypes (world.json): selected images per archetype next to what a uniform pick expects, and how many of
  the rare archetypes (design frequency ≤ 8 %: crowd, large vehicles, tram) appear at all;
- for the method's steps: mean feature distance and mean λ·difficulty of its picks (which term decides the pick);
- at the end, how well the depth features, RGB, true inverse depth and the true labels tell the archetypes apart,
  and what `diversity` would pick on each of them (oracle feature sets: is it the depth model, or depth itself?).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks import REPO, module_command
from benchmarks.label_efficiency import CONFIGS, cpu_seconds, depth_and_features, load_data

STRATEGIES = ("random", "diversity", "difficulty", "diversity+difficulty")
CLASS_NAMES = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
RARE_ARCHETYPE_SHARE = 0.08  # design frequency at or below which an archetype is rare: crowd, large_vehicles, tram


def rare_archetypes() -> list[str]:
    """The archetypes rare by the world's design frequency (≤ RARE_ARCHETYPE_SHARE): crowd, large_vehicles, tram."""
    from models.data.synth import ARCHETYPES

    return [a for a, f in ARCHETYPES.items() if f <= RARE_ARCHETYPE_SHARE]


def schedule(n_total: int, steps: int, smallest: int = 2) -> list[int]:
    """Labeled-set sizes of the method's doubling schedule ending at n_total: steps=3 → [n/4, n/2, n]. No step is
    below `smallest` (a student needs a batch of two: its BatchNorm layers cannot train on one image)."""
    sizes = [max(smallest, round(n_total / 2**k)) for k in reversed(range(steps))]
    return sorted(set(sizes))


def depth_key(depth: Path) -> str:
    """A short name for this depth checkpoint file (its size and modification time), to key cached students by."""
    stat = depth.stat()
    return hashlib.sha1(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:8]


def select_with_schedule(
    strategy: str, seed: int, sizes: list[int], pool: list, features, depth: Path, rc, out: Path, device, log
) -> tuple[list[int], list[dict]]:
    """Pool indices in pick order grown through `sizes`, and per step the picks' mean distance and λ·difficulty."""
    import torch

    from models.rounds.score import create_raw_features, feature_dim, score_range
    from models.rounds.select import select
    from models.rounds.train import train_student

    labeled: list[int] = []
    steps: list[dict] = []
    for step, size in enumerate(sizes):  # step 0 starts from nothing labeled
        n_lab = len(labeled)
        order = labeled + [i for i in range(len(pool)) if i not in set(labeled)]
        records = [pool[i] for i in order]
        difficulty = None
        if n_lab and rc.needs_difficulty:
            # students differ by depth model and iterations, picks by λ: a retrained depth.pt must not reuse them
            tag = f"l{rc.difficulty_weight:g}_it{rc.student.iters}_d{depth_key(depth)}"
            work = out / "coverage" / tag / f"s{seed}" / f"{strategy.replace('+', '_')}_{n_lab}"
            student = train_student(rc, records[:n_lab], depth, work / "student.pt", step=step, device=device)
            raw = work / "features.raw.npy"  # score_range writes features too; they equal the shared ones
            create_raw_features(raw, len(records), feature_dim(depth))
            difficulty = score_range(
                rc, records, 0, len(records), depth, raw, student_checkpoint=student, device=device
            ).difficulty
            raw.unlink()
        feats = features[torch.as_tensor(order)]
        picks = select(
            strategy,
            n_lab,
            size - n_lab,
            seed,
            features=feats,
            difficulty=difficulty,
            difficulty_weight=rc.difficulty_weight,
        )
        labeled += [order[p.index] for p in picks]
        dists = [p.distance for p in picks if p.distance is not None]
        diffs = [rc.difficulty_weight * p.difficulty for p in picks if p.difficulty is not None]
        steps.append(
            {
                "labeled_before": n_lab,
                "picked": len(picks),
                "mean_distance": sum(dists) / len(dists) if dists else None,
                "mean_lambda_difficulty": sum(diffs) / len(diffs) if diffs else None,
            }
        )
        if difficulty is not None:
            unl = [d for d in difficulty[n_lab:] if d == d]
            steps[-1]["pool_lambda_difficulty_range"] = [rc.difficulty_weight * v for v in (min(unl), max(unl))]
        log(f"  seed {seed} {strategy:<21} step to {size}: {steps[-1]}")
    return labeled, steps


def class_pixels(pool: list, num_classes: int = 19):
    """(N, C) int64 pixel counts per pool image and class (train ids), from the world's labels."""
    import numpy as np

    from contracts.cityscapes import load_label

    counts = np.zeros((len(pool), num_classes), np.int64)
    for i, record in enumerate(pool):
        ids = load_label(record.label).ravel()
        counts[i] = np.bincount(ids[ids < num_classes], minlength=num_classes)
    return counts


def measure(picked: list[int], pixels, archetypes: list[str]) -> dict:
    import numpy as np

    pool_px = pixels.sum(0)
    sel_px = pixels[picked].sum(0)
    coverage = np.where(pool_px > 0, sel_px / np.maximum(pool_px, 1), np.nan)
    counts: dict[str, int] = {}
    for i in picked:
        counts[archetypes[i]] = counts.get(archetypes[i], 0) + 1
    return {"class_coverage": coverage.tolist(), "archetypes": counts}


def separability(features, pool: list, archetypes: list[str], pixels, seeds: list[int], n_pick: int) -> str:
    """How well do features tell the scene archetypes apart, and what would `diversity` pick on them? For the depth
    features next to pooled RGB, pooled true inverse depth (a perfect depth model's geometry) and pooled one-hot true
    labels (what semantics alone would give), all 4×8 average pools: leave-one-out 1-nearest-neighbour archetype
    accuracy (every dimension standardised), and the cold-start farthest-point selection of `n_pick` images (the
    `diversity` strategy, same seeds; pools standardised per channel, as the method does its features) with its
    rare-archetype images and rare-class pixel coverage. Farthest-point
    selection can only find rare scenes that are far from the others in its feature space."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from contracts.cityscapes import load_label
    from models.strategies import cold_start_selection

    names = np.array(archetypes)
    rare = np.isin(names, rare_archetypes())

    def pooled(maps: np.ndarray) -> torch.Tensor:  # (N, C, H, W) → (N, C·32)
        return F.adaptive_avg_pool2d(torch.from_numpy(maps).float(), (4, 8)).flatten(1)

    rare_cls = rare_classes(pixels)
    pool_px = np.maximum(pixels.sum(0), 1)

    def describe(feats: torch.Tensor, channels: int | None) -> tuple[float, float, float, float]:
        """1-NN accuracy (all, rare images); diversity picks: rare-archetype images, rare-class coverage (%).
        `channels`: standardise the (N, channels·32) pools per channel before selecting, as the method does its
        features; None: `feats` are the method's standardised features already (their picks are `diversity`'s)."""
        f = feats.double()
        if channels is None:
            chosen_on = f
        else:
            by_channel = f.reshape(len(f), channels, -1)
            mean, std = by_channel.mean((0, 2), keepdim=True), by_channel.std((0, 2), keepdim=True)
            chosen_on = ((by_channel - mean) / (std + 1e-9)).flatten(1)
        f = (f - f.mean(0)) / (f.std(0) + 1e-9)  # the 1-NN check standardises every dimension
        d = torch.cdist(f, f)
        d.fill_diagonal_(float("inf"))
        hit = names[d.argmin(1).numpy()] == names
        picks = [cold_start_selection(chosen_on, n_pick, seed) for seed in seeds]
        rare_images = np.mean([rare[p].sum() for p in picks])
        rare_cover = np.mean([100 * (pixels[p].sum(0) / pool_px)[rare_cls].mean() for p in picks])
        return float(hit.mean()), float(hit[rare].mean()), float(rare_images), float(rare_cover)

    rgb = np.stack([np.asarray(Image.open(r.image).convert("RGB"), np.float32) for r in pool]).transpose(0, 3, 1, 2)
    inv_depth = []
    for r in pool:  # truth/<split>/<city>/<name>_depth.png: uint16 metres × 256, 0 = sky
        metres = np.asarray(Image.open(r.image.parents[3] / "truth" / r.split / r.city / f"{r.name}_depth.png"))
        inv_depth.append(np.where(metres > 0, 256.0 / np.maximum(metres, 1), 0.0)[None])
    one_hot = np.eye(20, dtype=np.float32)[:, :19]  # row 19 (ignore, 255 → 19) is all zeros
    labels = np.stack([one_hot[np.minimum(load_label(r.label), 19)] for r in pool])
    rows = {
        "depth features (this run's teacher, as selected on)": describe(torch.as_tensor(np.asarray(features)), None),
        "RGB": describe(pooled(rgb), 3),
        "true inverse depth (a perfect depth model)": describe(pooled(np.stack(inv_depth)), 1),
        "true labels, one-hot (semantics)": describe(pooled(labels.transpose(0, 3, 1, 2)), 19),
    }
    majority = max((names == a).mean() for a in set(archetypes))
    lines = ["**Do the features separate the archetypes?** Leave-one-out 1-NN archetype accuracy over the pool "
             f"(guessing the most common archetype: {100 * majority:.0f} %), and what `diversity` (cold-start "
             f"farthest points, {n_pick} images, mean over {seed_span(seeds)}) picks on each feature set "
             f"(random expects {n_pick * rare.mean():.1f} rare-archetype images and ≈ {100 * n_pick / len(pool):.1f} % "
             "of each class)", "",
             "| features (4×8 average pool) | 1-NN, all images | 1-NN, rare-archetype images "
             "| farthest points: rare-archetype images | farthest points: rare-class coverage (%) |",
             "|---|---|---|---|---|"]  # fmt: skip
    lines += [
        f"| {name} | {100 * a:.0f} % | {100 * b:.0f} % | {n:.1f} | {c:.1f} |" for name, (a, b, n, c) in rows.items()
    ]
    return "\n".join(lines)


def seed_span(seeds: list[int]) -> str:
    """'seeds 0–49' for a contiguous run, else 'seeds [0, 3, 7]'."""
    ordered = sorted(seeds)
    contiguous = len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1))
    return f"seeds {ordered[0]}–{ordered[-1]}" if contiguous else f"seeds {ordered}"


def rare_classes(pixels) -> list[int]:
    """Classes present in the pool with a pixel count below the median of the present classes'."""
    import numpy as np

    pool_px = pixels.sum(0)
    present = np.flatnonzero(pool_px > 0)
    return [int(c) for c in present if pool_px[c] < np.median(pool_px[present])]


def report(results: dict, pixels, archetypes: list[str], n_pick: int, n_pool: int) -> str:
    import numpy as np

    strategies = list(results)
    pool_px = pixels.sum(0)
    present = np.flatnonzero(pool_px > 0)
    rare = rare_classes(pixels)
    share = {a: archetypes.count(a) / len(archetypes) for a in sorted(set(archetypes), key=archetypes.count)}
    from models.data.synth import ARCHETYPES

    rare_arch = rare_archetypes()

    def cell(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
        v = scale * np.asarray(values, dtype=float)
        return f"{v.mean():.{digits}f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.{digits}f}"

    def cov(s: str) -> np.ndarray:  # (seeds, C)
        return np.array([r["class_coverage"] for r in results[s]], dtype=float)

    uniform = 100 * n_pick / n_pool
    lines = [
        f"Selected {n_pick} of {n_pool} pool images ({uniform:.1f} %); mean ± std over seeds "
        f"{sorted({r['seed'] for rs in results.values() for r in rs})}.",
        "",
        "**Summary**",
        "",
        "| | " + " | ".join(strategies) + " |",
        "|" + "---|" * (len(strategies) + 1),
    ]
    rows = {
        f"rare-class pixel coverage, mean over {len(rare)} classes (%)": [
            cell(cov(s)[:, rare].mean(1)) for s in strategies
        ],
        "all-class pixel coverage, mean (%)": [cell(cov(s)[:, present].mean(1)) for s in strategies],
        "classes with no selected pixel": [cell((cov(s)[:, present] == 0).sum(1), 1, 1) for s in strategies],
        f"rare-archetype images ({', '.join(rare_arch)}), of {n_pick}": [
            cell([sum(r["archetypes"].get(a, 0) for a in rare_arch) for r in results[s]], 1, 1) for s in strategies
        ],
        f"rare archetypes present (of {len(rare_arch)})": [
            cell([sum(a in r["archetypes"] for a in rare_arch) for r in results[s]], 1, 1) for s in strategies
        ],
        f"archetypes present (of {len(ARCHETYPES)})": [
            cell([len(r["archetypes"]) for r in results[s]], 1, 1) for s in strategies
        ],
    }
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()]
    lines += [
        "",
        f"**Class-pixel coverage (%)**: share of the pool's pixels of each class inside the selection "
        f"(a uniform pick expects ≈ {uniform:.1f}); classes by pool frequency, rarest last; * = rare",
        "",
        "| class | pool px % | " + " | ".join(strategies) + " |",
        "|" + "---|" * (len(strategies) + 2),
    ]
    for c in sorted(present, key=lambda c: -pool_px[c]):
        mark = "*" if c in rare else ""
        lines.append(
            f"| {CLASS_NAMES[c]}{mark} | {100 * pool_px[c] / pool_px.sum():.2f} | "
            + " | ".join(cell(cov(s)[:, c]) for s in strategies)
            + " |"
        )
    lines += [
        "",
        "**Selected images per archetype** (uniform expectation in brackets)",
        "",
        "| archetype | pool share | " + " | ".join(strategies) + " |",
        "|" + "---|" * (len(strategies) + 2),
    ]
    for a, s_ in sorted(share.items(), key=lambda kv: -kv[1]):
        lines.append(
            f"| {a} | {100 * s_:.1f} % ({n_pick * s_:.1f}) | "
            + " | ".join(cell([r["archetypes"].get(a, 0) for r in results[s]], 1, 1) for s in strategies)
            + " |"
        )
    steps = [(s, r["seed"], st) for s in strategies for r in results[s] for st in r["steps"] if st["labeled_before"]]
    if steps:
        lines += [
            "",
            "**Which term decides the method's picks** (per step: mean feature distance of the picks to "
            "their nearest labeled/chosen image, and mean λ·difficulty)",
            "",
            "| strategy | seed | labeled before | picked | mean distance | mean λ·difficulty "
            "| pool λ·difficulty range |",
            "|---|---|---|---|---|---|---|",
        ]
        for s, seed, st in steps:
            rng = st.get("pool_lambda_difficulty_range")
            dist, diff = (st[k] for k in ("mean_distance", "mean_lambda_difficulty"))
            lines.append(
                f"| {s} | {seed} | {st['labeled_before']} | {st['picked']} | "
                f"{'-' if dist is None else f'{dist:.1f}'} | {'-' if diff is None else f'{diff:.1f}'} | "
                f"{'-' if rng is None else f'{rng[0]:.1f} – {rng[1]:.1f}'} |"
            )
    return "\n".join(lines)


def join_reports(out: Path, tags: list[str], *, skip_missing: bool = False) -> dict[str, list[dict]]:
    """Strategy → runs of the finished reports `out/coverage<tag>.json`, in tag order. A missing report stops the
    command, or with `skip_missing` is reported and left out (a job that failed before finishing a seed)."""
    joined: dict[str, list[dict]] = {}
    for tag in tags:
        path = out / f"coverage{tag}.json"
        if not path.exists():
            if not skip_missing:
                raise SystemExit(f"no report {path}: a finished run with --tag {tag!r} writes it")
            print(f"job {tag}: no report (it failed before finishing a seed)", file=sys.stderr)
            continue
        for strategy, runs in json.loads(path.read_text()).items():
            joined.setdefault(strategy, []).extend(runs)
    return joined


def run_jobs(args: argparse.Namespace, seeds: list[int], jobs: int) -> tuple[dict[str, list[dict]], list[str]]:
    """Run seed groups in `jobs` child processes of this script (tags <tag>_j0, _j1, ...; the depth model exists by
    now, so none trains it) and join what they report. Returns the joined results and the tags whose process
    failed (their finished seeds are joined all the same)."""
    groups = [seeds[k::jobs] for k in range(jobs)]
    common = ["--out", str(args.out.resolve()), "--fraction", str(args.fraction), "--steps", str(args.steps),
              "--strategies", args.strategies]  # fmt: skip
    common += ["--quick"] if args.quick else ["--config", args.config]
    if args.difficulty_weight is not None:
        common += ["--difficulty-weight", str(args.difficulty_weight)]
    if args.student_iters:
        common += ["--student-iters", str(args.student_iters)]
    env = {**os.environ}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))  # share the cores, not oversubscribe
    children = {}
    for k, group in enumerate(groups):
        tag = f"{args.tag}_j{k}"
        seeds_arg = ["--seeds", ",".join(map(str, group)), "--tag", tag]
        cmd = module_command("coverage", *common, *seeds_arg)
        print(f"job {tag}: seeds {group}", flush=True)
        children[tag] = subprocess.Popen(cmd, env=env, cwd=REPO)
    failed = [tag for tag, child in children.items() if child.wait() != 0]
    results = join_reports(args.out, list(children), skip_missing=True)
    for strategy in results:
        results[strategy].sort(key=lambda r: r["seed"])
    if failed:
        print(f"jobs {', '.join(failed)} failed: the report joins only the seeds they finished", file=sys.stderr)
    return results, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coverage", description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="cpu-long")
    parser.add_argument("--quick", action="store_true", help="--config quick, fraction 0.3, seed 0 unless --seeds")
    parser.add_argument("--out", type=Path, required=True, help="label_efficiency's --out (world, depth.pt)")
    parser.add_argument("--fraction", type=float, default=0.05, help="share of the pool to select (default 0.05)")
    parser.add_argument("--seeds", help="comma-separated (default 0,1,2; --quick: 0)")
    parser.add_argument("--steps", type=int, default=3, help="doubling steps of the method's schedule (default 3)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument(
        "--difficulty-weight", type=float, help="λ of diversity+difficulty (default: the method's 1000)"
    )
    parser.add_argument("--student-iters", type=int, help="difficulty student iterations (default: the config's)")
    parser.add_argument("--tag", default="", help="suffix of the output files: coverage<TAG>.md / .json (give "
                        "parallel processes sharing --out different tags)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1, help="run the seeds in this many parallel processes after "
                        "training the depth model once, then join their reports (default 1)")  # fmt: skip
    parser.add_argument("--merge", metavar="TAGS", help="select nothing: join the finished runs coverage<TAG>.json "
                        "(comma-separated tags, e.g. _a,_b) into one report coverage<--tag>.md")  # fmt: skip
    args = parser.parse_args(argv)
    cfg = CONFIGS["quick" if args.quick else args.config]
    extra: dict = {}
    if args.difficulty_weight is not None:
        extra["difficulty_weight"] = args.difficulty_weight
    if args.student_iters:
        extra["student"] = {**cfg.settings.get("student", {}), "iters": args.student_iters}
    cfg = replace(cfg, settings={**cfg.settings, **extra})
    fraction = 0.3 if args.quick else args.fraction
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [0] if args.quick else [0, 1, 2]
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    strategies = args.strategies.split(",")
    t0, c0 = time.perf_counter(), cpu_seconds()

    from models.data.synth import read_archetypes
    from models.device import resolve_device
    from models.rounds.config import RoundConfig

    args.out.mkdir(parents=True, exist_ok=True)
    pool, _ = load_data(cfg, args.out, None)
    base = RoundConfig.from_settings(cfg.settings, size=cfg.size)
    by_name = read_archetypes(args.out / "world")
    archetypes = [by_name[r.name] for r in pool]
    pixels = class_pixels(pool, base.num_classes)
    n_pick = max(2, round(fraction * len(pool)))
    sizes = schedule(n_pick, args.steps, base.min_labeled)
    print(f"pool {len(pool)}, selecting {n_pick} ({100 * fraction:g} %), method schedule {sizes}")

    def write(results: dict[str, list[dict]], final: bool, features=None) -> str:
        text = report(results, pixels, archetypes, n_pick, len(pool))
        if final and features is not None:  # (the separability check reads every label map: once, at the end)
            text += "\n\n" + separability(features, pool, archetypes, pixels, seeds, n_pick)
        if args.merge:  # λ and the student's length are those of the joined runs, not of this command line
            text += f"\n\njoined from coverage{{{args.merge}}}.json (settings: those runs' own reports)"
        else:
            text += (
                f"\n\nconfig `{'quick' if args.quick else args.config}`, λ = {base.difficulty_weight:g}, student "
                f"{base.student.iters} iterations; {(time.perf_counter() - t0) / 60:.1f} min wall, "
                f"{(cpu_seconds() - c0) / 60:.1f} min CPU (depth model reused when present)"
                + (f"; seeds in {min(args.jobs, len(seeds))} processes" if args.jobs > 1 and len(seeds) > 1 else "")
                + ("" if final else f"; partial: seeds {sorted({r['seed'] for rs in results.values() for r in rs})}")
            )
        (args.out / f"coverage{args.tag}.md").write_text(text + "\n")
        (args.out / f"coverage{args.tag}.json").write_text(json.dumps(results, indent=1))
        return text

    if args.merge:
        merged = join_reports(args.out, args.merge.split(","))
        print(write(merged, final=True))  # (no features: each run's own report has the separability table)
        return 0

    device = resolve_device(base.device)
    # features file per --tag: parallel processes sharing --out (one per seed group) must not rewrite each other's
    depth, features = depth_and_features(base, pool, args.out, f"coverage{args.tag}", device)

    if args.jobs > 1 and len(seeds) > 1:
        results, failed = run_jobs(args, seeds, min(args.jobs, len(seeds)))
        print(write(results, final=True, features=features))
        return 1 if failed else 0

    results: dict[str, list[dict]] = {s: [] for s in strategies}
    for seed in seeds:
        for strategy in strategies:
            rc = replace(
                RoundConfig.from_settings({**cfg.settings, "strategy": strategy, "seed": seed}, size=cfg.size),
                num_classes=base.num_classes,
            )
            steps_for = sizes if strategy in ("difficulty", "diversity+difficulty") else [n_pick]
            picked, steps = select_with_schedule(
                strategy, seed, steps_for, pool, features, depth, rc, args.out, device, print
            )
            assert len(picked) == n_pick == len(set(picked)), (strategy, seed, picked)
            results[strategy].append(
                {
                    "seed": seed,
                    "picked": [pool[i].name for i in picked],
                    "steps": steps,
                    **measure(picked, pixels, archetypes),
                }
            )
        write(results, final=False)  # after every seed: a run stopped early keeps the seeds it finished
    print(write(results, final=True, features=features))
    return 0


if __name__ == "__main__":
    sys.exit(main())
