"""`depthal pretrain-depth`: self-supervised depth pretraining on a Cityscapes-layout folder, without the service."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cli.commands import parse_size, require_models

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pretrain-depth",
        help="train the self-supervised depth model (encoder + decoder + pose) on video triplets",
        description="Train the depth model of method.md §2 on <data>/leftImg8bit{,_sequence}/<split>. The 'small' "
        "preset is a CPU-sized run (ResNet-18, random init); 'method' is the method's depth schedule (ResNet-101 "
        "dilated, ImageNet weights, 300k frozen-encoder + 100k fine-tuning iterations; needs a GPU and a download).",
    )
    p.add_argument("--data", required=True, type=Path, help="Cityscapes-layout root (real or `depthal synth` output)")
    p.add_argument("--split", default="train")
    p.add_argument("--out", type=Path, default=Path("depth.pt"), help="checkpoint path (resumed if it exists)")
    p.add_argument("--preset", choices=("small", "method"), default="small")
    p.add_argument("--size", type=parse_size, help="resize frames to HxW first (default: the dataset's size)")
    p.add_argument("--crop", type=parse_size, help="random crop HxW after resizing (the method crops 512x512)")
    p.add_argument("--iters", type=int, help="fine-tuning (trainable encoder) iterations")
    p.add_argument("--frozen-iters", type=int, help="frozen-encoder iterations before fine-tuning")
    p.add_argument("--layers", type=int, choices=(18, 50, 101))
    p.add_argument("--weights", help="encoder init: 'imagenet', a file, or 'none'")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate of the fine-tuning phase")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (auto = cuda when available)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--no-resume", action="store_true", help="start over even if --out exists")
    p.add_argument("--eval-split", default="val", help="split with truth/ depth to evaluate on at the end ('' = skip)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_models("pretrain-depth")
    import torch

    from cli.main import CLIError
    from contracts.cityscapes import DataError, find_frames
    from models.data.datasets import DepthEvalDataset, SequenceDataset
    from models.depth_eval import constant_depth, evaluate_depth, model_depth
    from models.depth_model import DepthConfig
    from models.depth_train import train_depth
    from models.device import DeviceUnavailable, resolve_device

    overrides: dict = {"num_workers": args.workers}
    for key, value in (("finetune_iters", args.iters), ("frozen_iters", args.frozen_iters), ("layers", args.layers),
                       ("batch_size", args.batch_size), ("finetune_lr", args.lr)):  # fmt: skip
        if value is not None:
            overrides[key] = value
    if args.layers == 18:
        overrides["dilate_last"] = False  # BasicBlock ResNets cannot dilate
    if args.weights is not None:
        overrides["weights"] = None if args.weights.lower() == "none" else args.weights
        if overrides["weights"] not in (None, "imagenet") and not Path(overrides["weights"]).is_file():
            raise CLIError(f"--weights {args.weights}: no such file")
    cfg = DepthConfig.small(**overrides) if args.preset == "small" else DepthConfig(**overrides)
    if cfg.frozen_iters > 0 and cfg.weights is None:
        log.warning("freezing a randomly initialised encoder for %d iterations: it learns nothing", cfg.frozen_iters)
    try:
        device = resolve_device(args.device)
    except DeviceUnavailable as err:
        raise CLIError(f"--device: {err}") from None

    try:
        records = find_frames(args.data, args.split)
    except DataError as err:
        raise CLIError(str(err)) from None
    if len(records) < cfg.batch_size:
        raise CLIError(f"{args.data}/{args.split}: {len(records)} triplets, fewer than one batch of {cfg.batch_size}")
    dataset = SequenceDataset(records, size=args.size, crop=args.crop, flip=True, seed=cfg.seed)
    log.info("pretraining depth on %d triplets of %s/%s, %s, %d iterations", len(records), args.data, args.split,
             device, cfg.total_iters)  # fmt: skip

    def progress(stage: str, fraction: float, message: str) -> None:
        log.info("%s %5.1f%% %s", stage, 100 * fraction, message)

    result = train_depth(cfg, dataset, device=device, progress=progress, checkpoint_path=args.out,
                         resume=not args.no_resume)  # fmt: skip
    log.info("checkpoint: %s (iteration %d)", args.out, result.step)

    if args.eval_split:
        try:
            val = [r for r in find_frames(args.data, args.eval_split, require_neighbours=False) if r.depth is not None]
        except DataError:
            val = []
        if not val:
            log.info("no true depth under %s/truth/%s: skipping evaluation", args.data, args.eval_split)
            return 0
        loader = torch.utils.data.DataLoader(DepthEvalDataset(val, size=args.size), batch_size=4)
        ours = evaluate_depth(model_depth(result.model, cfg.min_depth, cfg.max_depth), loader, device=device)
        const = evaluate_depth(constant_depth, loader, device=device)
        for name, m in (("model", ours), ("best constant depth", const)):
            log.info("%-20s abs_rel %.3f  sq_rel %.3f  rmse %.2f  δ<1.25 %.3f  (%d images, median scaling)",
                     name, m["abs_rel"], m["sq_rel"], m["rmse"], m["a1"], m["n_images"])  # fmt: skip
    return 0
