"""benchmarks/label_efficiency.py reduced to a smoke run (`--quick`: 1 seed, 11-image pool, budgets of 2 and 4 labels,
2-iteration models): the table has a finite mIoU for every strategy and budget, the plot is written, and the
strategies' picks behave (random and entropy share the seeded cold start, the method's differs)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import label_efficiency as bench


@pytest.mark.slow
def test_quick_label_efficiency_writes_a_finite_table_and_a_plot(tmp_path: Path) -> None:
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "label_efficiency.md").read_text()
    assert table.splitlines()[0] == "| labels (% of pool) | random | entropy | diversity+difficulty |"
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ \(", line)]
    assert [row.split(" ")[1] for row in rows] == ["2", "4"]
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


def test_budget_counts_grow_and_refuse_bad_budgets() -> None:
    assert bench.budget_counts((0.02, 0.04, 0.08, 0.16), 100, 2) == [2, 4, 8, 16]
    assert bench.budget_counts((0.01, 0.04), 100, 2) == [2, 4]  # never below the fewest labels a round trains on
    with pytest.raises(SystemExit, match="must grow"):
        bench.budget_counts((0.01, 0.02), 100, 2)
