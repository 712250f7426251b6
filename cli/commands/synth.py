"""`depthal synth`: write a procedural street world in the Cityscapes layout (see docs/data.md)."""

from __future__ import annotations

import argparse

from cli.commands import parse_size


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synth", help="generate a synthetic street world in the Cityscapes layout")
    p.add_argument("--out", required=True, help="output folder (Cityscapes layout + truth/ + world.json)")
    p.add_argument("--sequences", type=int, default=100, help="number of sequences (one annotated frame each)")
    p.add_argument("--size", type=parse_size, default=(128, 256), help="image size HxW (default 128x256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of sequences in the val split")
    p.add_argument("--frames", type=int, default=3, help="frames per sequence, odd (default 3: t-1, t, t+1)")
    p.add_argument("--antialias", type=int, default=1, help="odd f: average f×f samples per pixel (f² slower)")
    p.add_argument("--workers", type=int, default=1, help="render in this many processes (same output)")
    p.add_argument("--preview", action="store_true", help="also write OUT/preview.png, a contact sheet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cli.main import CLIError
    from models.data.synth import generate_world
    from models.data.synth.preview import write_preview

    if args.sequences < 1:
        raise CLIError(f"--sequences must be at least 1, got {args.sequences}")
    if args.frames < 3 or args.frames % 2 == 0:
        raise CLIError(f"--frames must be odd and at least 3, got {args.frames}")
    if min(args.size) < 16:
        raise CLIError(f"--size {args.size[0]}x{args.size[1]} is too small (at least 16 pixels a side)")
    if args.antialias < 1 or args.antialias % 2 == 0:
        raise CLIError(f"--antialias must be odd and at least 1, got {args.antialias}")
    if not 0.0 <= args.val_fraction < 1.0:
        raise CLIError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    summary = generate_world(
        args.out, sequences=args.sequences, size=args.size, seed=args.seed, val_fraction=args.val_fraction,
        frames=args.frames, workers=max(1, args.workers), antialias=args.antialias,
    )  # fmt: skip
    print(f"wrote {len(summary.sequences)} sequences {summary.counts} to {summary.out} in {summary.seconds:.1f} s")
    print("archetypes: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.archetypes.items())))
    if args.preview:
        print(f"preview: {write_preview(summary.out)}")
    return 0
