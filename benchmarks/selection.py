"""Farthest-point selection at scale: this implementation (O(N·D) memory) against the dense N×N formulation.

    python -m benchmarks.selection            # N ∈ {3k, 30k, 100k} × D = 8192, 1,000 picked (about 15 min on 2 cores)
    python -m benchmarks.selection --quick    # small smoke run
    python -m benchmarks.selection --data iso # isotropic Gaussian features (the worst case, see below)
    python -m benchmarks.selection --device cuda   # GPU rows only: 30k/100k float32 against dense, 1M float16

Every measurement runs in a fresh child process, so peaks do not mix. How memory is measured: the child builds the
features, then resets the kernel's peak-RSS counter (`echo 5 > /proc/self/clear_refs`), runs the selection and reads
VmHWM from /proc/self/status: the peak resident memory of the whole process during the selection, features included.
"peak / features" divides that by the feature array's size in bytes (float32 unless the row says float16). Time is
wall-clock and process CPU time (user + sys) of the selection call alone.

Data. "clustered" (default) stands in for real depth features, which are far from isotropic: 64 scene archetypes in
a 16-dimensional latent space (cluster spread 0.5 around unit-Gaussian centres), mapped to D dimensions by a fixed
random linear map, plus independent noise of 0.3 per dimension, then standardised per column like
`models.features`. "iso" is i.i.d. N(0, 1): all distances concentrate around the same value, so no bound can skip
work; it is the worst case for any exact method, reported so the limit is visible.

The dense formulation is the paper's (method.md §4.3): `torch.cdist` of the float32 features into an N×N float32
matrix, then the greedy loop on it. It is refused, not run, when that matrix would exceed half the memory the kernel
reports as available (`MemAvailable`): at 100k it needs 40 GB. On a GPU the same rule reads the device's free
memory, and the features are generated on the GPU (same recipe, the device's random stream), so the 1M × 8192 pool
(32 GB in float32 while it is standardised, 16 GB in float16) never passes through host memory. A GPU row's peak is
`torch.cuda.max_memory_allocated` during the selection, features included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time
from pathlib import Path

import torch

from benchmarks import REPO, module_command
from models.selection import farthest_point_selection


def make_features(n: int, dim: int, data: str, seed: int = 0, chunk: int = 8192, device: str = "cpu") -> torch.Tensor:
    """(n, dim) float32 features on `device`, generated in row chunks so no temporary of the full size exists."""
    g = torch.Generator(device=device).manual_seed(seed)
    out = torch.empty(n, dim, device=device)
    if data == "iso":
        for r0 in range(0, n, chunk):
            out[r0 : r0 + chunk] = torch.randn(min(chunk, n - r0), dim, generator=g, device=device)
        return out
    latent, n_arch = 16, 64
    arch = torch.randn(n_arch, latent, generator=g, device=device)
    proj = torch.randn(latent, dim, generator=g, device=device) / latent**0.5
    for r0 in range(0, n, chunk):
        r = min(chunk, n - r0)
        pick = torch.randint(0, n_arch, (r,), generator=g, device=device)
        z = arch[pick] + 0.5 * torch.randn(r, latent, generator=g, device=device)
        out[r0 : r0 + r] = z @ proj + 0.3 * torch.randn(r, dim, generator=g, device=device)
    # per-column standardisation, as models.features does per channel
    mean = out.mean(0)
    std = out.std(0)
    for r0 in range(0, n, chunk):
        out[r0 : r0 + chunk] -= mean
        out[r0 : r0 + chunk] /= std
    return out


def dense_selection(
    features: torch.Tensor, labeled: list[int], n_new: int, dtype: torch.dtype = torch.float32
) -> list[int]:
    """The paper's dense formulation: D = cdist (N×N float32), score = running min of the chosen rows, argmax.
    With dtype float64 it is the reference `farthest_point_selection` promises to reproduce exactly."""
    dist = torch.cdist(features.to(dtype), features.to(dtype))  # (N, N): the matrix this module exists to avoid
    dist.fill_diagonal_(0.0)
    score = dist[labeled].min(0).values
    chosen: list[int] = []
    for _ in range(n_new):
        j = int(score.argmax())
        if score[j] <= 0:  # the paper stops when the argmax is already labeled
            break
        chosen.append(j)
        score = torch.minimum(score, dist[j])
    return chosen


def _mem_available(device: str = "cpu") -> int:
    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _peak_rss() -> int:
    return _status("VmHWM")


def _rss() -> int:
    return _status("VmRSS")


def child(method: str, n: int, dim: int, n_new: int, data: str, dtype: str, device: str) -> dict:
    torch.manual_seed(0)
    baseline = _rss()  # the interpreter with torch loaded
    feat_bytes = n * dim * (2 if dtype == "float16" else 4)
    if method in ("dense", "dense64"):
        # Refused before the features are made (32 GB at 1M): half of what is left once they would exist.
        need = (8 if method == "dense64" else 4) * n * n
        if need > (_mem_available(device) - feat_bytes) // 2:
            free = "free GPU memory" if device == "cuda" else "MemAvailable"
            kind = "float64" if method == "dense64" else "float32"
            return {"refused": f"N×N {kind} needs {need / 1e9:.1f} GB > half of the {free} left beside the features"}
    features = make_features(n, dim, data, device=device)
    if dtype == "float16":
        features = features.half()  # (a real pool would be written as float16 directly, models.features)
    labeled = [int(torch.randint(0, n, (1,)))]  # cold start: one seed image
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS counter: measure the selection only
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if method in ("dense", "dense64"):
        picks = dense_selection(features, labeled, n_new, torch.float64 if method == "dense64" else torch.float32)
    else:
        picks = farthest_point_selection(features, labeled, n_new)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else _peak_rss()
    return {
        "wall_s": wall,
        "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "peak_bytes": peak,
        "feature_bytes": feat_bytes,
        "baseline_bytes": 0 if device == "cuda" else baseline,
        "picks": picks,
    }


def run_child(args: list[str], timeout: float) -> dict:
    cmd = module_command("selection", "--child", *args)
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"refused": f"stopped after {timeout:.0f} s"}
    if res.returncode != 0:
        return {"refused": f"failed (exit {res.returncode}): {res.stderr.strip().splitlines()[-1:]}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.selection", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--data", choices=["clustered", "iso"], default="clustered")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the pool sizes")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before a run is stopped")
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu",
        help="cpu: the CPU table (plus the 1M float16 GPU row when a GPU is present); cuda: GPU rows only",
    )  # fmt: skip
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, n, dim, n_new, data, dtype, device = args.child
        print(json.dumps(child(method, int(n), int(dim), int(n_new), data, dtype, device)))
        return

    dim, n_new = (1024, 100) if args.quick else (8192, 1000)
    sizes = args.sizes or ([1000, 3000] if args.quick else [3000, 30000, 100000])
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to torch")
    big = 100_000 if args.quick else 1_000_000  # the GPU target: 1M × 8192 in float16
    runs = []
    if args.device == "cuda":
        gpu_sizes = args.sizes or ([3000, 30000] if args.quick else [30000, 100000])
        for n in gpu_sizes:
            runs += [("ours", n, "float32", "cuda"), ("dense", n, "float32", "cuda"), ("dense64", n, "float32", "cuda")]
        runs += [("ours", big, "float16", "cuda"), ("dense", big, "float32", "cuda")]
    else:
        for n in sizes:
            runs += [("ours", n, "float32", "cpu"), ("dense", n, "float32", "cpu")]
        runs.append(("ours", sizes[-1], "float16", "cpu"))  # half-precision storage, largest pool only (time budget)
        if torch.cuda.is_available():
            runs.append(("ours", big, "float16", "cuda"))
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"data={args.data}, D={dim}, picked={n_new}, cold start (1 labeled), OMP_NUM_THREADS={threads}, "
          f"load average at start {' '.join(load)}\n")  # fmt: skip
    dense_picks: dict[tuple[int, str, str], list[int]] = {}
    results = []
    for method, n, dtype, device in runs:
        out = run_child([method, str(n), str(dim), str(n_new), args.data, dtype, device], args.timeout)
        results.append((method, n, dtype, device, out))
        if method in ("dense", "dense64") and "picks" in out:
            dense_picks[n, device, method] = out["picks"]
    print(f"load average at end {' '.join(Path('/proc/loadavg').read_text().split()[:3])}\n")
    print("| N | method | storage | device | wall s | CPU s | peak memory | (peak − interpreter) / features "
          "| same picks as dense (float32 / float64 cdist) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for method, n, dtype, device, out in results:
        name = {"dense": "dense N×N (cdist)", "dense64": "dense N×N (cdist, float64)"}.get(
            method, "farthest_point_selection"
        )
        if "refused" in out:
            print(f"| {n:,} | {name} | {dtype} | {device} | — | — | — | — | {out['refused']} |")
            continue
        same = "—"
        if method == "ours":
            verdicts = []
            for ref in ("dense", "dense64"):
                dense = dense_picks.get((n, device, ref))
                if dense is None:
                    continue
                first = _first_diff(out["picks"], dense)
                verdicts.append("yes" if out["picks"] == dense else f"no (first difference at pick {first})")
            same = " / ".join(verdicts) or "—"
        print(
            f"| {n:,} | {name} | {dtype} | {device} | {out['wall_s']:.1f} | {out['cpu_s']:.1f} | "
            f"{out['peak_bytes'] / 2**30:.2f} GiB | "
            f"{(out['peak_bytes'] - out['baseline_bytes']) / out['feature_bytes']:.2f} | {same} |"
        )


def _first_diff(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


if __name__ == "__main__":
    main()
