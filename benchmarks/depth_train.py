"""Depth-pretraining throughput: iterations/s and peak memory of `train_depth` per configuration, next to a plain
fp32 loop (same model, same loss, no checkpointing/progress/AMP machinery) measured in the same run.

    python -m benchmarks.depth_train [--quick] [--size 96x192] [--layers 18] [--batch 4] [--iters 20]

Each configuration runs in its own subprocess so that peak memory is its own: CPU = the child's max RSS (includes
the Python/torch baseline, ~0.3-0.4 GB), CUDA = torch.cuda.max_memory_allocated. "CPU s/it" is the process's CPU
time per iteration (all threads), a steadier figure than wall-clock on a shared machine. CUDA rows (fp32 vs AMP,
channels-last on/off) appear only when a GPU is present. Frames are random smooth images (throughput does not
depend on content).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time

from benchmarks import REPO, module_command


class _Frames:
    """Minimal SequenceBatch dataset: neighbours are 1-pixel shifts."""

    def __init__(self, n: int, h: int, w: int) -> None:
        import torch
        import torch.nn.functional as F

        g = torch.Generator().manual_seed(0)
        self.base = F.interpolate(torch.rand(n, 3, h // 4, w // 4 + 2, generator=g), size=(h, w + 8), mode="bilinear")
        self.K = torch.eye(4)
        self.K[0, 0] = self.K[1, 1] = 0.6 * w
        self.K[0, 2], self.K[1, 2] = w / 2, h / 2
        self.inv_K = torch.linalg.inv(self.K)
        self.w = w

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        import torch

        f = self.base[i]
        img, prev, nxt = f[:, :, 4 : 4 + self.w], f[:, :, 3 : 3 + self.w], f[:, :, 5 : 5 + self.w]
        return {
            "image": img, "prev": prev, "next": nxt, "image_aug": img, "prev_aug": prev, "next_aug": nxt,
            "K": self.K, "inv_K": self.inv_K, "K_pyramid": self.K.expand(4, 4, 4), "index": torch.tensor(i),
        }  # fmt: skip


def _peak_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(spec: dict) -> dict:
    """Run one configuration and return its figures."""
    import torch

    from models.depth_model import DepthConfig, DepthModel
    from models.depth_train import train_depth
    from models.losses import sde_loss

    device = torch.device(spec["device"])
    h, w = spec["size"]
    warmup, iters = spec["warmup"], spec["iters"]
    cfg = DepthConfig.small(
        layers=spec["layers"], batch_size=spec["batch"], finetune_iters=warmup + iters, amp=spec["amp"],
        channels_last=spec["channels_last"], log_every=1, checkpoint_every=10**9,
    )  # fmt: skip
    data = _Frames(max(8, 2 * spec["batch"]), h, w)
    if spec["loop"] == "plain":
        model = DepthModel(cfg).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        loader = torch.utils.data.DataLoader(data, batch_size=spec["batch"], shuffle=True, drop_last=True)
        batches = iter(list(loader) * (1 + (warmup + iters) // len(loader)))
        for i in range(warmup + iters):
            if i == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0, c0 = time.perf_counter(), time.process_time()
            b = {k: v.to(device) for k, v in next(batches).items()}
            disps = model(b["image_aug"])["disp"]
            poses = model.poses(b["prev_aug"], b["image_aug"], b["next_aug"])
            loss, _ = sde_loss(disps, poses, b["image"], {-1: b["prev"], 1: b["next"]}, b["K"], b["inv_K"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    else:
        stamps: list[tuple[float, float]] = []

        def progress(stage: str, fraction: float, message: str) -> None:
            if device.type == "cuda":
                torch.cuda.synchronize()
            stamps.append((time.perf_counter(), time.process_time()))

        train_depth(cfg, data, device=device, progress=progress)
        elapsed = stamps[-1][0] - stamps[warmup - 1][0]
        cpu = stamps[-1][1] - stamps[warmup - 1][1]
    return {"it_s": iters / elapsed, "cpu_s_it": cpu / iters, "peak_mb": _peak_mb(device)}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.depth_train", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="64×128, 5 timed iterations")
    p.add_argument("--size", default="96x192", help="HxW")
    p.add_argument("--layers", type=int, default=18)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--iters", type=int, default=20, help="timed iterations (after 3 warm-up ones)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return

    import torch

    h, w = (64, 128) if args.quick else tuple(int(v) for v in args.size.split("x"))
    iters = 5 if args.quick else args.iters
    base = {"size": [h, w], "layers": args.layers, "batch": args.batch, "warmup": 3, "iters": iters}
    rows = [("cpu", "plain", False, False), ("cpu", "train_depth", False, False), ("cpu", "train_depth", False, True)]
    if torch.cuda.is_available():
        rows += [("cuda", "plain", False, False)] + [
            ("cuda", "train_depth", amp, cl) for amp in (False, True) for cl in (False, True)
        ]
    threads = os.environ.get("OMP_NUM_THREADS", str(torch.get_num_threads()))
    print(f"ResNet-{args.layers} depth + ResNet-18 pose, batch {args.batch}, {h}×{w}, {iters} timed iterations, "
          f"OMP_NUM_THREADS={threads}\n")  # fmt: skip
    print("| device | loop | precision | channels-last | it/s (wall) | CPU s/it | peak memory (MB) |")
    print("|---|---|---|---|---|---|---|")
    for device, loop, amp, cl in rows:
        spec = dict(base, device=device, loop=loop, amp=amp, channels_last=cl)
        out = subprocess.run(
            module_command("depth_train", "--child", json.dumps(spec)),
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        precision = "AMP fp16" if amp else "fp32"
        cells = [device, loop, precision, "on" if cl else "off", f"{res['it_s']:.2f}", f"{res['cpu_s_it']:.2f}",
                 f"{res['peak_mb']:.0f}"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
