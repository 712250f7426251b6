"""benchmarks/coverage.py reduced to a smoke run (`--quick`: 1 seed, 11-image pool, 3 picks, 2-iteration models):
every strategy picks the right number of distinct pool images, random picks π_s[:n], and the reported class-pixel
coverage is what the picked images' labels give."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import coverage as bench


def test_schedule_doubles_up_to_the_budget_and_never_goes_below_two() -> None:
    assert bench.schedule(12, 3) == [3, 6, 12]
    assert bench.schedule(100, 3) == [25, 50, 100]
    assert bench.schedule(3, 3) == [2, 3]  # a student cannot train on a single image


def test_seed_span_shortens_only_contiguous_runs() -> None:
    assert bench.seed_span(list(range(50))) == "seeds 0–49"
    assert bench.seed_span([2, 0, 1]) == "seeds 0–2"
    assert bench.seed_span([0, 3, 7]) == "seeds [0, 3, 7]"
    assert bench.seed_span([0, 1]) == "seeds [0, 1]"


@pytest.mark.slow
def test_quick_coverage_reports_what_the_picks_contain(tmp_path: Path) -> None:
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "coverage.json").read_text())
    assert list(results) == list(bench.STRATEGIES)

    from contracts.cityscapes import find_frames
    from models.strategies import seeded_permutation

    pool = list(find_frames(tmp_path / "world", "train"))
    pixels = bench.class_pixels(pool)
    index = {r.name: i for i, r in enumerate(pool)}
    for strategy, runs in results.items():
        (run,) = runs
        picked = [index[name] for name in run["picked"]]
        assert len(picked) == len(set(picked)) == 3, strategy
        expected = pixels[picked].sum(0) / np.maximum(pixels.sum(0), 1)
        got = np.nan_to_num(np.array(run["class_coverage"], dtype=float), nan=0.0)
        np.testing.assert_allclose(got, expected, err_msg=strategy)
        assert sum(run["archetypes"].values()) == 3
    assert [index[n] for n in results["random"][0]["picked"]] == seeded_permutation(len(pool), 0)[:3]
    # the method grew its set in the doubling schedule [2, 3]: a cold start of 2, then 1 pick scored by a student
    steps = results["diversity+difficulty"][0]["steps"]
    assert [(s["labeled_before"], s["picked"]) for s in steps] == [(0, 2), (2, 1)]
    assert steps[1]["mean_lambda_difficulty"] is not None and steps[1]["mean_lambda_difficulty"] >= 0
    # the step's student is kept for reruns, under a name that changes with the depth model it learned from
    (student,) = (tmp_path / "coverage").glob("*/s0/diversity_difficulty_2/student.pt")
    assert student.parts[-4] == f"l1000_it2_d{bench.depth_key(tmp_path / 'depth.pt')}"
    summary = (tmp_path / "coverage.md").read_text()
    assert "| rare-class pixel coverage" in summary and "**Selected images per archetype**" in summary
    assert "| true inverse depth (a perfect depth model) |" in summary  # the separability diagnostic
    # its farthest-point column for the depth features is what the `diversity` strategy picked
    (row,) = [line for line in summary.splitlines() if line.startswith("| depth features")]
    from models.data.synth import read_archetypes

    archetype = read_archetypes(tmp_path / "world")
    rare = sum(archetype[name] in ("crowd", "large_vehicles", "tram") for name in results["diversity"][0]["picked"])
    assert float(row.split("|")[4]) == rare

    # --merge joins finished runs (here this run and a copy relabelled as seed 1) without selecting or training
    other = {s: [{**r, "seed": 1} for r in runs] for s, runs in results.items()}
    (tmp_path / "coverage_b.json").write_text(json.dumps(other))
    depth_mtime = (tmp_path / "depth.pt").stat().st_mtime_ns
    assert bench.main(["--quick", "--out", str(tmp_path), "--tag", "_all", "--merge", ",_b"]) == 0
    merged = json.loads((tmp_path / "coverage_all.json").read_text())
    assert {s: [r["seed"] for r in runs] for s, runs in merged.items()} == {s: [0, 1] for s in bench.STRATEGIES}
    joined = (tmp_path / "coverage_all.md").read_text()
    assert "mean ± std over seeds [0, 1]" in joined and "joined from coverage{,_b}.json" in joined
    assert (tmp_path / "depth.pt").stat().st_mtime_ns == depth_mtime
    # a tag with no finished report is named, and the joined report is left as it was
    with pytest.raises(SystemExit, match="no report .*coverage_missing.json"):
        bench.main(["--quick", "--out", str(tmp_path), "--tag", "_all", "--merge", ",_missing"])
    assert json.loads((tmp_path / "coverage_all.json").read_text()) == merged


@pytest.mark.slow
def test_jobs_run_seed_groups_in_processes_and_join_them(tmp_path: Path) -> None:
    argv = ["--quick", "--out", str(tmp_path), "--seeds", "0,1,2", "--strategies", "random,diversity", "--jobs", "2"]
    assert bench.main(argv) == 0
    # seeds dealt round-robin to two processes, each with its own report ...
    for tag, seeds in (("_j0", [0, 2]), ("_j1", [1])):
        child = json.loads((tmp_path / f"coverage{tag}.json").read_text())
        assert {s: [r["seed"] for r in runs] for s, runs in child.items()} == {"random": seeds, "diversity": seeds}
    # ... joined in seed order into the run's own report, with what a single process would have picked
    joined = json.loads((tmp_path / "coverage.json").read_text())
    assert {s: [r["seed"] for r in runs] for s, runs in joined.items()} == {"random": [0, 1, 2], "diversity": [0, 1, 2]}

    from contracts.cityscapes import find_frames
    from models.strategies import seeded_permutation

    pool = [r.name for r in find_frames(tmp_path / "world", "train")]
    for run in joined["random"]:
        assert run["picked"] == [pool[i] for i in seeded_permutation(len(pool), run["seed"])[:3]]
    report = (tmp_path / "coverage.md").read_text()
    assert "mean ± std over seeds [0, 1, 2]" in report and "seeds in 2 processes" in report
    assert "| true inverse depth (a perfect depth model) |" in report  # the parent's features, joined report


def test_depth_key_changes_when_the_depth_model_is_rewritten(tmp_path: Path) -> None:
    depth = tmp_path / "depth.pt"
    depth.write_bytes(b"first model")
    first = bench.depth_key(depth)
    assert bench.depth_key(depth) == first
    depth.write_bytes(b"second model, retrained")
    assert bench.depth_key(depth) != first


def test_jobs_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stop:
        bench.main(["--quick", "--out", str(tmp_path), "--jobs", "0"])
    assert stop.value.code == 2
    assert not any(tmp_path.iterdir())  # refused before making the world
