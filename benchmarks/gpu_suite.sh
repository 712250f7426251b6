#!/usr/bin/env bash
# The GPU suite: what to measure when a GPU is lent for a few minutes (about 10 on one H100), in one script that
# resumes where it stopped, so a loan cut short or split over two calls loses nothing.
#
#   bash benchmarks/gpu_suite.sh [--out DIR] [--budget SECONDS]   # needs CUDA; results in DIR (benchmarks/out/gpu)
#   bash benchmarks/gpu_suite.sh --toy --out DIR                   # every step at smoke size on this machine's
#                                                                  # device (CPU in CI: tests/test_gpu_suite.py)
# Steps, in order: the CUDA tests (pytest -m gpu), depth and segmentation training throughput against a plain fp32
# loop (mixed precision, channels-last), farthest-point selection up to 1M images, the ablation at a GPU size.
# Each step's table goes to DIR/<step>.md once the step succeeds; a step whose file exists is skipped, a step that
# failed or ran out of time is run again (the ablation keeps its finished (row, seed) runs in DIR/ablation/).
# No step starts once --budget seconds (default 540) have passed; the summary says which steps are left.
# Copy the tables into benchmarks/README.md with the date and the card's name (DIR/device.txt).
set -uo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/out/gpu
budget=540
toy=0
while [ $# -gt 0 ]; do
    case "$1" in
        --toy) toy=1 ;;
        --out) out="$2"; shift ;;
        --budget) budget="$2"; shift ;;
        *) echo "gpu_suite: unknown argument '$1' (use --toy, --out DIR, --budget SECONDS)" >&2; exit 2 ;;
    esac
    shift
done
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python3
mkdir -p "$out"
device=$("$py" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
if [ "$device" != cuda ] && [ "$toy" = 0 ]; then
    echo "gpu_suite: no CUDA device here; --toy runs every step at smoke size on the CPU" >&2
    exit 2
fi
"$py" -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU (toy run)')" \
    > "$out/device.txt"

if [ "$toy" = 1 ]; then
    steps=(
        "cuda_tests|$py -m pytest -q -p no:cacheprovider -m gpu tests"
        "depth_train|$py -m benchmarks.depth_train --quick --iters 2"
        "seg_train|$py -m benchmarks.seg_train --quick --device $device"
        "selection|$py -m benchmarks.selection --quick"
        "ablation|$py -m benchmarks.ablation --quick --device $device --work $out/ablation"
    )
else
    steps=(
        "cuda_tests|$py -m pytest -q -p no:cacheprovider -m gpu tests"
        "depth_train|$py -m benchmarks.depth_train --size 192x384 --layers 50 --batch 8 --iters 20"
        "seg_train|$py -m benchmarks.seg_train --device cuda"
        "selection|$py -m benchmarks.selection --device cuda"
        "ablation|$py -m benchmarks.ablation --device cuda --work $out/ablation --seeds 0 1 2"
    )
fi

start=$SECONDS
summary=()
for step in "${steps[@]}"; do
    name=${step%%|*}
    cmd=${step#*|}
    if [ -s "$out/$name.md" ]; then
        summary+=("| $name | done earlier | |")
        continue
    fi
    left=$((budget - (SECONDS - start)))
    if [ "$left" -le 0 ]; then
        summary+=("| $name | not started: budget spent | |")
        continue
    fi
    echo "== $name: $cmd (at most ${left} s)" >&2
    t0=$SECONDS
    # shellcheck disable=SC2086  # the command is a word list on purpose
    timeout "$left" $cmd > "$out/$name.log" 2>&1
    rc=$?
    took=$((SECONDS - t0))
    if [ "$rc" = 0 ]; then
        # the table is what the step printed on stdout and stderr, minus progress lines; the log keeps everything
        grep -E '^\||^[a-z].*passed|skipped|^plot:' "$out/$name.log" > "$out/$name.md" || cp "$out/$name.log" "$out/$name.md"
        summary+=("| $name | ok | $took |")
    elif [ "$rc" = 124 ]; then
        summary+=("| $name | stopped at the budget (run again to resume) | $took |")
    else
        summary+=("| $name | failed (exit $rc, see $out/$name.log) | $took |")
    fi
done
echo "device: $(cat "$out/device.txt")"
echo "| step | result | seconds |"
echo "|---|---|---|"
printf '%s\n' "${summary[@]}"
for line in "${summary[@]}"; do
    case "$line" in *failed*|*budget*) exit 1 ;; esac
done
