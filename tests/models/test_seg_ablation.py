"""Smoke test of the ablation benchmark (1 seed, 2 iterations, tiny world) and `depthal train-seg` on its outputs."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import ablation
from cli.main import main as cli_main
from models.checkpoint import load_checkpoint
from models.seg_data import label_subset, seg_datasets


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    work = tmp_path_factory.mktemp("ablation")
    setup = ablation.Setup.quick()
    table, plot = ablation.run_ablation(work, setup, "cpu")
    return ablation, setup, work, table, plot


@pytest.mark.slow
def test_quick_ablation_writes_a_finite_table_and_a_plot(quick):
    ablation, setup, work, table, plot = quick
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| row")]
    assert [r.split(" | ")[0][2:] for r in rows] == list(ablation.ROWS)
    for r in rows:
        mean, std = (float(x) for x in r.split(" | ")[1].split(" ± "))
        assert math.isfinite(mean) and 0.0 <= mean <= 100.0 and std == 0.0
    assert (work / "ablation.md").read_text() == table
    assert plot.exists() and plot.stat().st_size > 1000
    runs = json.loads((work / "results_seed0.json").read_text())["runs"]
    assert set(runs) == set(ablation.ROWS)
    assert all(0.0 <= run["confidence"] <= 1.0 and math.isfinite(run["miou"]) for run in runs.values())
    assert all(len(run["per_class"]) == 19 for run in runs.values())
    assert ablation.run_ablation(work, setup, "cpu", report_only=True)[0] == table  # the report reads the cache


def test_label_subset_is_the_methods_permutation():
    import numpy as np

    assert label_subset(10, 3, 7) == sorted(np.random.RandomState(7).permutation(10)[:3].tolist())
    assert label_subset(10, 3, 7) == label_subset(10, 3, 7) != label_subset(10, 3, 8)
    with pytest.raises(ValueError, match="labels"):
        label_subset(10, 11, 0)


@pytest.mark.slow
def test_seg_datasets_and_train_seg_cli(quick, tmp_path, capsys):
    ablation, setup, work, _, _ = quick
    world = work / f"world_{setup.sequences}_{setup.size[0]}x{setup.size[1]}"
    depth = next(work.glob("*_depth*.pt"))
    data = seg_datasets(world, 2, seed=0, mix="depthmix")
    n_train = len(data.unlabeled)
    assert len(data.labeled) == 2 and sum(bool(data.unlabeled[i]["is_labeled"]) for i in range(n_train)) == 2
    assert len(seg_datasets(world, 2, seed=0, mix="classmix").unlabeled) == n_train - 2
    sample = data.unlabeled[0]
    assert sample["label"].shape == sample["image"].shape[1:]

    out = tmp_path / "seg.pt"
    argv = ["train-seg", "--data", str(world), "--labels", "2", "--depth", str(depth), "--iterations", "1",
            "--num-classes", "19", "--out", str(out), "--device", "cpu"]  # fmt: skip
    assert cli_main(argv) == 0
    blob = load_checkpoint(out)
    assert blob["step"] == 1 and blob["config"]["mix"] == "depthmix" and blob["config"]["net"]["variant"] == "transfer"
    assert "val mIoU" in capsys.readouterr().out
    assert cli_main([*argv[:5], "--variant", "transfer", "--out", str(tmp_path / "x.pt")]) == 2  # transfer, no depth
    assert "needs --depth" in capsys.readouterr().err
    assert cli_main(["train-seg", "--data", str(world), "--labels", "999", "--depth", str(depth), "--iterations",
                     "1", "--out", str(tmp_path / "y.pt")]) == 2  # fmt: skip
    assert "--labels must be in" in capsys.readouterr().err


def test_processes_running_other_rows_of_one_seed_keep_each_others_results(tmp_path):
    # each store re-reads the seed's file and merges into it: a second process's row does not replace the first's
    setup = ablation.Setup.quick()
    first, second = list(ablation.ROWS)[:2]
    ablation._store_run(tmp_path, 0, setup, first, {"miou": 0.2, "confidence": 0.0, "per_class": [0.0] * 19})
    ablation._store_run(tmp_path, 0, setup, second, {"miou": 0.3, "confidence": 0.0, "per_class": [0.0] * 19})
    results = ablation.load_results(tmp_path, setup)
    assert {row: seeds["0"]["miou"] for row, seeds in results.items()} == {first: 0.2, second: 0.3}
    other = ablation.Setup(**{**setup.__dict__, "iterations": 3})  # another setup's file counts as empty
    assert ablation._stored_runs(tmp_path, 0, other) == {}


def test_paired_gain_is_the_mean_and_spread_of_per_seed_differences():
    # row b is 1 point above a on seed 0 and 3 points on seed 1; seed 2 ran only a, so it is left out of the pairs
    results = {
        "a": {"0": {"miou": 0.20}, "1": {"miou": 0.30}, "2": {"miou": 0.50}},
        "b": {"0": {"miou": 0.21}, "1": {"miou": 0.33}},
    }
    assert ablation.paired_gain(results, "b", "a") == "+2.00 ± 1.41 (2/2)"
    assert ablation.paired_gain(results, "a", "b") == "-2.00 ± 1.41 (0/2)"
    assert ablation.paired_gain({"a": results["a"], "b": {"2": {"miou": 0.4}}}, "b", "a") == "-10.00 (0/1)"
    assert ablation.paired_gain(results, "c", "a") == "—"
