"""`depthal train-seg`: semi-supervised segmentation on a Cityscapes-layout folder, without the service."""

from __future__ import annotations

import argparse

from cli.commands import parse_size, require_models


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-seg", help="train a segmentation model (transfer, mean teacher, DepthMix)")
    p.add_argument("--data", required=True, help="Cityscapes-layout root with train and val splits")
    p.add_argument("--labels", type=int, required=True, help="number of labeled train images (random subset)")
    p.add_argument("--depth", help="depth checkpoint (depthal train-depth) for transfer / multi-task / DepthMix")
    p.add_argument("--variant", choices=("scratch", "transfer", "multitask"), default="transfer")
    p.add_argument("--mix", choices=("none", "classmix", "depthmix"), default="depthmix")
    p.add_argument("--no-mean-teacher", action="store_true", help="supervised only")
    p.add_argument("--iterations", type=int, default=40_000)
    p.add_argument("--size", type=parse_size, help="resize images to HxW")
    p.add_argument("--crop", type=parse_size, help="random training crop HxW")
    p.add_argument("--num-classes", type=int, default=19)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if available)")
    p.add_argument("--out", default="segmentation.pt", help="checkpoint path (resumed when it exists)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint at --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_models("train-seg")
    from pathlib import Path

    from cli.main import CLIError

    if args.labels < 1:
        raise CLIError(f"--labels must be at least 1, got {args.labels}")
    if args.iterations < 1:
        raise CLIError(f"--iterations must be at least 1, got {args.iterations}")
    if not (Path(args.data) / "leftImg8bit" / "train").is_dir():
        raise CLIError(f"{args.data}: no leftImg8bit/train folder (expected a Cityscapes-layout root)")
    needs_depth = args.variant != "scratch" or (args.mix == "depthmix" and not args.no_mean_teacher)
    if needs_depth and not args.depth:
        raise CLIError(f"--variant {args.variant} --mix {args.mix} needs --depth CHECKPOINT (a depth model)")
    if args.depth and not Path(args.depth).is_file():
        raise CLIError(f"--depth {args.depth}: no such file")

    from models.checkpoint import load_checkpoint
    from models.depth_model import load_depth_model
    from models.device import DeviceUnavailable, resolve_device
    from models.seg_data import seg_datasets
    from models.seg_net import SegNetConfig, config_from_depth
    from models.seg_train import SegTrainConfig, train_segmentation

    try:
        device = resolve_device(args.device)
    except DeviceUnavailable as err:
        raise CLIError(f"--device: {err}") from None
    if args.depth:
        net = config_from_depth(load_checkpoint(args.depth)["config"], args.variant, args.num_classes)
    else:
        net = SegNetConfig(variant=args.variant, num_classes=args.num_classes)
    cfg = SegTrainConfig(
        net=net, iterations=args.iterations, mean_teacher=not args.no_mean_teacher, mix=args.mix,
        eval_every=args.eval_every, seed=args.seed,
    )  # fmt: skip
    multitask = args.variant == "multitask"
    try:
        data = seg_datasets(args.data, args.labels, seed=args.seed, mix=args.mix, size=args.size, crop=args.crop,
                            neighbours=multitask)  # fmt: skip
    except ValueError as err:
        raise CLIError(str(err)) from err
    depth_net = None
    if args.mix == "depthmix" and not multitask and cfg.mean_teacher:
        depth_net = load_depth_model(args.depth, device)[0].requires_grad_(False)  # pseudo-depth, computed on the fly

    def progress(stage: str, fraction: float, message: str) -> None:
        if stage == "eval" or round(fraction * cfg.iterations) % 100 == 0:
            print(f"[{stage} {fraction:6.1%}] {message}", flush=True)

    result = train_segmentation(
        cfg, data.labeled, data.unlabeled, device=device, init=args.depth if args.variant != "scratch" else None,
        progress=progress, checkpoint_path=args.out, resume=not args.restart, val_ds=data.val,
        depth_net=depth_net,
    )  # fmt: skip
    print(f"checkpoint: {args.out}; val mIoU {result.miou:.4f}" if data.val else f"checkpoint: {args.out}")
    return 0
