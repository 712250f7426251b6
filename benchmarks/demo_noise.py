"""Noise and gain of the demo's curve: is a step of `depthal demo`'s labels-vs-mIoU table a result or noise?

    python -m benchmarks.demo_noise --runs 0:4,0:16,1:4,1:16 --out /tmp/demo_noise

On the default demo's world (`cli.commands.demo.SIZES["default"]`: same size, seed, pool / val split, networks,
iterations and training settings) and one depth model, it trains the round's segmentation model
(`models.rounds.train`) on the first N images of a random order of the pool (`--order` seeds it), for each `seed:N`
in `--runs`, and reports val mIoU of the student (what the round evaluates and keeps) and of its EMA teacher (when
the settings train one) on the whole val set, and the mean ± std over 20 random 12-image subsets of val (the first
demo's val size). Two seeds at one N give the seed noise; two orders at one N the label-choice noise; two N at one
seed the gain. `--seg` tries other segmentation settings on the same world and depth model (say, with the mean
teacher), `--size` another world size; each row also has per-class IoU. Checkpoints stay in `--out`, so a rerun only
evaluates.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="0:4,0:16,1:4", help="seed:labels pairs, comma-separated")
    p.add_argument("--out", type=Path, default=Path("runs/demo_noise"))
    p.add_argument("--seg", type=json.loads, default={},
                   help="segmentation settings merged into the demo's (JSON), e.g. "
                        '\'{"mean_teacher": false, "mix": "none"}\'; checkpoints are named by them')  # fmt: skip
    p.add_argument("--order", type=int, default=123,
                   help="seed of the pool's random order; the first N are labeled")  # fmt: skip
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"),
                   help="another world size than the demo's (with a fresh --out: it caches the world)")  # fmt: skip
    args = p.parse_args(argv)
    import dataclasses

    import torch
    from torch.utils.data import DataLoader, Subset

    from cli.commands.demo import SIZES
    from contracts.cityscapes import find_frames
    from models.checkpoint import load_checkpoint
    from models.data.datasets import LabeledDataset
    from models.data.synth.world import generate_world
    from models.rounds.config import RoundConfig
    from models.rounds.pretrain import pretrain_depth
    from models.rounds.train import train_segmentation_model
    from models.seg_net import build_seg_net
    from models.seg_train import SegTrainConfig, evaluate

    demo, seed_world, cpu = SIZES["default"], 0, torch.device("cpu")
    if args.size:
        demo = dataclasses.replace(demo, size=tuple(args.size))
    world, n_seq = args.out / "world", demo.pool + demo.val
    if not (world / "world.json").exists():
        generate_world(world, sequences=n_seq, size=demo.size, seed=seed_world, val_fraction=demo.val / n_seq)
    pool, val = list(find_frames(world, "train")), list(find_frames(world, "val", require_neighbours=False))
    depth = args.out / "depth.pt"
    if not depth.exists():
        pretrain_depth(RoundConfig.from_settings(demo.settings, size=demo.size), pool, depth, device=cpu)
    order = np.random.default_rng(args.order).permutation(len(pool))
    val_ds = LabeledDataset(val, size=demo.size)
    subsets = [sorted(np.random.default_rng(k).permutation(len(val))[:12].tolist()) for k in range(20)]
    rows = []
    for run in args.runs.split(","):
        seed, n = (int(x) for x in run.split(":"))
        settings = {**demo.settings, "seed": seed, "seg": {**demo.settings["seg"], **args.seg}}
        cfg = RoundConfig.from_settings(settings, size=demo.size)
        tag = "".join(f"_{k}-{v}" for k, v in sorted(args.seg.items()))
        tag += "" if args.order == 123 else f"_order{args.order}"
        ckpt, t = args.out / f"seg_n{n}_s{seed}{tag}.pt", time.perf_counter()
        labeled, unlabeled = [pool[i] for i in order[:n]], [pool[i] for i in order[n:]]
        train_segmentation_model(cfg, labeled, unlabeled, val, depth, ckpt, device=cpu)
        row: dict = {"seed": seed, "labels": n, "order": args.order, "seconds": round(time.perf_counter() - t)}
        blob = load_checkpoint(ckpt)
        for key in [k for k in ("model", "teacher") if k in blob]:  # the student and its EMA teacher (if any)
            net = build_seg_net(SegTrainConfig.from_dict(blob["config"]).net, state_follows=True)
            net.load_state_dict(blob[key])
            miou, per_class = evaluate(net, DataLoader(val_ds, batch_size=16), cpu)
            row[key], row[f"{key}_per_class"] = 100 * miou, [round(100 * v, 1) for v in per_class.tolist()]
            small = [100 * evaluate(net, DataLoader(Subset(val_ds, s), batch_size=12), cpu)[0] for s in subsets]
            row[f"{key}_val12"] = (float(np.mean(small)), float(np.std(small)))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n| seed | labels | student mIoU, {len(val)} val (%) | teacher (%) | student on 12 val: mean ± std over 20 "
          "subsets |\n|---|---|---|---|---|")  # fmt: skip
    for r in rows:
        m, s = r["model_val12"]
        teacher = f"{r['teacher']:.1f}" if "teacher" in r else "—"
        print(f"| {r['seed']} | {r['labels']} | {r['model']:.1f} | {teacher} | {m:.1f} ± {s:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
