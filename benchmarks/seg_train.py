"""Iterations/s and peak memory of one segmentation training step per configuration, next to a plain fp32 loop.

Rows: "plain fp32" = supervised forward + CE + backward + SGD step of the same student, written as the textbook
loop (fp32, no AMP, no channels-last, no clipping); then the real step of `models.seg_train` for each ablation
configuration (supervised; mean teacher + ClassMix; + DepthMix with precomputed pseudo-depth; multi-task with online
depth). Each configuration runs in its own subprocess so that peak memory is its own: CUDA → peak allocated by
torch; CPU → peak resident set size of the process (includes the Python interpreter and libraries, ~0.3 GB).

    python -m benchmarks.seg_train [--quick] [--device cpu|cuda] [--threads N]

`--quick`: ResNet-18 with narrow decoders at 64×64 (seconds). Default: the method's network (ResNet-101, dilated,
ASPP decoder 64/128/128/256/256) at 256×256 crops, batches 2 labeled + 2 unlabeled.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from benchmarks import REPO, module_command

CONFIGS = {  # name → (variant, mean_teacher, mix)
    "plain fp32 loop (supervised)": ("transfer", False, "none"),
    "supervised step": ("transfer", False, "none"),
    "mean teacher + ClassMix": ("transfer", True, "classmix"),
    "mean teacher + DepthMix (pseudo-depth)": ("transfer", True, "depthmix"),
    "multi-task + DepthMix (online depth)": ("multitask", True, "depthmix"),
}


def _net_cfg(quick: bool, variant: str):
    from models.seg_net import SegNetConfig

    if quick:
        return SegNetConfig(variant, 19, 18, False, (16, 16, 32, 32, 64))
    return SegNetConfig(variant, 19, 101, True)


def run_one(name: str, quick: bool, device_name: str, steps: int, warmup: int) -> dict:
    import torch

    from models.mean_teacher import ema_update, make_teacher
    from models.seg_net import build_seg_net
    from models.seg_step import consistency_loss, supervised_loss
    from models.seg_train import SegTrainConfig, make_optimizer

    variant, mean_teacher, mix = CONFIGS[name]
    device = torch.device(device_name)
    size = 64 if quick else 256
    torch.manual_seed(0)
    cfg = SegTrainConfig(net=_net_cfg(quick, variant), mean_teacher=mean_teacher, mix=mix)
    net = build_seg_net(cfg.net).to(device)
    plain = name.startswith("plain")
    amp = device.type == "cuda" and not plain
    if device.type == "cuda" and not plain:
        net = net.to(memory_format=torch.channels_last)
    teacher = make_teacher(net) if mean_teacher else None
    opt = make_optimizer(net, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    opts = cfg.consistency()
    gen = torch.Generator().manual_seed(0)
    shape = (2, 3, size, size)
    lb = {"image": torch.rand(shape, device=device), "label": torch.randint(0, 19, (2, size, size), device=device)}
    ub = {"image": torch.rand(shape, device=device), "pseudo_disp": torch.rand(2, 1, size, size, device=device)}

    def autocast():
        return torch.autocast("cuda", dtype=torch.float16) if amp else torch.autocast("cpu", enabled=False)

    def plain_step() -> None:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(lb["image"])["seg"], lb["label"], ignore_index=255)
        loss.backward()
        opt.step()

    def step(t: int) -> None:
        opt.zero_grad(set_to_none=True)
        with autocast():
            sup = supervised_loss(net(lb["image"]), lb["label"])
        scaler.scale(sup).backward()
        if teacher is not None:
            unsup, _ = consistency_loss(net, teacher, ub, opts, generator=gen, autocast=autocast())
            scaler.scale(unsup).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        if teacher is not None:
            ema_update(teacher, net, t)

    fn = (lambda t: plain_step()) if plain else step
    for t in range(1, warmup + 1):
        fn(t)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for t in range(warmup + 1, warmup + steps + 1):
        fn(t)
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB → GiB (Linux)
    return {"name": name, "it_s": steps / dt, "img_s": steps * (4 if mean_teacher else 2) / dt, "peak_gib": peak}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.seg_train", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one configuration
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from models.device import resolve_device

    device = str(resolve_device(args.device))  # a name: it goes on the children's command lines
    steps = args.steps or (5 if args.quick else 3)
    if args.one:
        print(json.dumps(run_one(args.one, args.quick, device, steps, warmup=1)))
        return
    rows = []
    for name in CONFIGS:
        cmd = module_command("seg_train", "--one", name, "--device", device, "--steps", str(steps))
        cmd += ["--quick"] * args.quick + (["--threads", str(args.threads)] if args.threads else [])
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if out.returncode != 0:
            sys.exit(f"{name} failed:\n{out.stderr}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    size = "64×64, ResNet-18 (quick)" if args.quick else "256×256, ResNet-101 dilated + ASPP decoder"
    threads = torch.get_num_threads()
    print(f"device {device}, threads {threads}, {size}, batch 2 labeled (+2 unlabeled), {steps} timed steps\n")
    print("| configuration | it/s | images/s | vs plain fp32 | peak memory (GiB) |")
    print("|---|---:|---:|---:|---:|")
    base = rows[0]["it_s"]
    for r in rows:
        mem = "peak RSS" if device == "cpu" else "peak allocated"
        speed = f"{r['it_s']:.3f} | {r['img_s']:.2f} | {r['it_s'] / base:.2f}×"
        print(f"| {r['name']} | {speed} | {r['peak_gib']:.2f} ({mem}) |")


if __name__ == "__main__":
    main()
