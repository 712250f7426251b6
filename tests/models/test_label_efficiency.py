"""benchmarks/label_efficiency.py reduced to a smoke run (`--quick`: 1 seed, 11-image pool, budgets of 2 and 4 labels,
2-iteration models): the table has a finite mIoU for every strategy and budget, the plot is written, and the
strategies' picks behave (random and entropy share the seeded cold start, the method's differs)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import label_efficiency as bench


@pytest.mark.slow
def test_quick_label_efficiency_writes_a_finite_table_and_a_plot(tmp_path: Path) -> None:
    assert bench.main(["--quick", "--out", str(tmp_path), "--full-supervision"]) == 0
    table = (tmp_path / "label_efficiency.md").read_text()
    assert table.splitlines()[0] == "| labels (% of pool) | random | entropy | diversity+difficulty |"
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ \(", line)]
    assert [row.split(" ")[1] for row in rows] == ["2", "4"]
    assert "Label savings" in table and "Headline ratio" in table  # the method against random; 1/30 vs all labels
    full = json.loads((tmp_path / "full_supervision_s0.json").read_text())
    assert list(full) == ["0"] and 0.0 <= full["0"] <= 1.0
    cells = [c.strip("* ") for row in rows for c in row.strip("|").split("|")[1:]]
    assert len(cells) == 6 and all(math.isfinite(float(c.split("±")[0])) for c in cells)
    runs = json.loads((tmp_path / "label_efficiency.json").read_text())
    assert [(r["strategy"], r["labels"]) for r in runs] == [(s, [2, 4]) for s in bench.STRATEGIES]
    assert all(0.0 <= m <= 1.0 for r in runs for m in r["miou"])
    by = {r["strategy"]: r for r in runs}
    assert by["random"]["miou"][0] == by["entropy"]["miou"][0]  # the same seeded cold start, trained once
    assert all(len(r["picked"]) == 4 and len(set(r["picked"])) == 4 for r in runs)  # 4 distinct labeled images
    coverage = (tmp_path / "class_coverage.md").read_text().splitlines()
    assert coverage[0].startswith("| labels | random: classes / rare px %") and coverage[2].startswith("| 2 | ")
    plot = np.array(Image.open(tmp_path / "label_efficiency.png"))
    assert plot.ndim == 3 and plot.std() > 0


@pytest.mark.slow
def test_parallel_seed_processes_train_one_depth_model(tmp_path: Path) -> None:
    """Two `--only-seeds` processes started together on one --out: one trains the depth model, the other waits for
    it and reuses it (before the lock, both trained it into the same file)."""
    command = [sys.executable, "-m", "benchmarks.label_efficiency", "--quick", "--out", str(tmp_path),
               "--strategies", "random", "--only-seeds"]  # fmt: skip
    procs = [subprocess.Popen([*command, seed], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for seed in ("0", "1")]  # fmt: skip
    logs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], logs
    sources = sorted(line.rsplit(" (", 1)[1] for log in logs for line in log.splitlines()
                     if line.startswith("depth pretraining: "))  # fmt: skip
    assert sources == [f"reused {tmp_path / 'depth.pt'})", "trained here)"], logs
    assert {p.name for p in tmp_path.glob("label_efficiency_s*.json")} == {"label_efficiency_s0.json",
                                                                          "label_efficiency_s1.json"}  # fmt: skip


def test_budget_counts_grow_and_refuse_bad_budgets() -> None:
    assert bench.budget_counts((0.02, 0.04, 0.08, 0.16), 100, 2) == [2, 4, 8, 16]
    assert bench.budget_counts((0.01, 0.04), 100, 2) == [2, 4]  # never below the fewest labels a round trains on
    with pytest.raises(SystemExit, match="must grow"):
        bench.budget_counts((0.01, 0.02), 100, 2)


def test_labels_to_reach_interpolates_in_log_labels_and_marks_censored_seeds() -> None:
    from benchmarks.savings import Reach, interpolate, labels_to_reach

    # 20 % at 4 labels, 30 % at 16: 25 % lies halfway in log2 labels, at 8 labels (not 10, the linear midpoint)
    assert labels_to_reach([4, 16], [0.20, 0.30], 0.25) == Reach(8.0, "=")
    assert labels_to_reach([4, 8, 16], [0.20, 0.22, 0.30], 0.26) == Reach(pytest.approx(2**3.5), "=")
    assert labels_to_reach([4, 16], [0.20, 0.30], 0.18) == Reach(4, "≤")  # reached at the first budget already
    assert labels_to_reach([4, 16], [0.20, 0.24], 0.25) == Reach(16, ">")  # never reached
    assert labels_to_reach([4, 8, 16], [0.20, 0.26, 0.24], 0.25).labels == pytest.approx(2 ** (2 + 5 / 6))  # first
    assert interpolate([4, 16], [0.20, 0.30], 8) == pytest.approx(0.25)
    assert interpolate([4, 16], [0.20, 0.30], 2) is None


def test_savings_and_headline_tables_report_every_seed() -> None:
    from benchmarks.savings import Curve, headline_table, savings_table

    method = [Curve(0, [4, 8, 16], [0.20, 0.25, 0.30]), Curve(1, [4, 8, 16], [0.24, 0.26, 0.28])]
    random = [Curve(0, [4, 8, 16], [0.18, 0.22, 0.25]), Curve(1, [4, 8, 16], [0.20, 0.22, 0.29])]
    text = savings_table(method, random, "the method", "random")
    assert "| 0 | 25.0 | 8.0 | 50 % |" in text  # the method's 25 % at 8 labels = random's at 16
    assert "| 1 | 29.0 | > 16.0 | 0 % |" in text  # never reached: counted at the last budget, shown as such
    assert "with 12.0 ± 5.7 labels" in text and "0 reached it at the first budget already (≤), 1 never did" in text
    head = headline_table(method, {0: 0.40, 1: 0.35}, n_pool=240)  # 1/30 of 240 = 8 labels
    assert "| 0 | 25.0 | 40.0 | 62 % |" in head and "| 1 | 26.0 | 35.0 | 74 % |" in head
    assert "reaches 68 ± 8 % of full supervision (240 labels), 2 seeds" in head
    assert "outside the budgets" in headline_table(method, {0: 0.4}, n_pool=60)  # 2 labels: below the first budget


@pytest.mark.parametrize("name", sorted(bench.CONFIGS))
def test_every_configuration_is_a_valid_round_configuration(name: str) -> None:
    """A configuration is run for hours: a misspelt setting must fail here, not after its depth pretraining."""
    from models.rounds.config import RoundConfig

    cfg = bench.CONFIGS[name]
    rc = RoundConfig.from_settings(cfg.settings, size=None if cfg.cityscapes else cfg.size)
    assert rc.seg.iterations == cfg.settings.get("seg", {}).get("iterations", rc.seg.iterations) > 0
    assert all(0 < b < 1 for b in cfg.budgets) and list(cfg.budgets) == sorted(cfg.budgets)


def test_table_names_each_columns_seeds_when_they_differ() -> None:
    # random over seeds 0-2, entropy over seed 0 only: a mean of one seed must not read as the peer of a mean of three.
    runs = [bench.Run("random", s, [8, 16], [0.2 + s / 100, 0.3]) for s in range(3)]
    runs.append(bench.Run("entropy", 0, [8, 16], [0.25, 0.35]))
    head, _, first, second = bench.table(runs, [8, 16], 240).splitlines()
    assert head == "| labels (% of pool) | random (seeds 0, 1, 2) | entropy (seeds 0) |"
    assert first == "| 8 (3%) | 21.0 ± 1.0 | **25.0 ± 0.0** |" and second == "| 16 (7%) | 30.0 ± 0.0 | **35.0 ± 0.0** |"
    same = bench.table(runs[:1] + [bench.Run("entropy", 0, [8, 16], [0.25, 0.35])], [8, 16], 240)
    assert same.splitlines()[0] == "| labels (% of pool) | random | entropy |"  # equal seeds: plain names
