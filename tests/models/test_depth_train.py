"""train_depth mechanics on tiny fake sequences: checkpoints, resume, progress, phases, model reload."""

from __future__ import annotations

import pytest
import torch

from models.checkpoint import load_checkpoint
from models.depth_model import DepthConfig, DepthModel, load_depth_model
from models.depth_train import train_depth
from models.encoder import ResNetEncoder
from tests.models.depth_fakes import ShiftedFrames

TINY = {"num_ch_dec": (8, 8, 16, 16, 32), "batch_size": 2, "checkpoint_every": 2, "log_every": 1}


@pytest.mark.slow
def test_train_checkpoint_progress_and_reload(tmp_path) -> None:
    cfg = DepthConfig.small(finetune_iters=3, **TINY)
    calls: list[tuple[str, float, str]] = []
    ckpt = tmp_path / "depth.pt"
    result = train_depth(cfg, ShiftedFrames(), device="cpu", progress=lambda *a: calls.append(a), checkpoint_path=ckpt)
    assert result.step == 3 and len(result.losses) == 3
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert [round(c[1], 3) for c in calls] == [0.333, 0.667, 1.0]
    assert calls[-1][0] == "depth_finetune" and "iteration 3/3" in calls[-1][2]
    blob = load_checkpoint(ckpt)
    assert blob["step"] == 3 and blob["config"] == cfg.to_dict()
    model, cfg2 = load_depth_model(ckpt)
    assert cfg2 == cfg and not model.training
    x = torch.rand(2, 3, 32, 64)
    result.model.eval()
    with torch.no_grad():
        disp = model.predict_disp(x)
        assert disp.shape == (2, 1, 32, 64)
        assert torch.allclose(disp, result.model.predict_disp(x))
        assert model.features(x, 3).shape == (2, 16, 4, 8)


@pytest.mark.slow
def test_resume_after_interruption_runs_only_the_rest(tmp_path) -> None:
    cfg = DepthConfig.small(finetune_iters=4, **TINY)
    ckpt = tmp_path / "depth.pt"

    def stop_at_2(stage: str, fraction: float, message: str) -> None:
        if fraction >= 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_depth(cfg, ShiftedFrames(), device="cpu", progress=stop_at_2, checkpoint_path=ckpt)
    saved = load_checkpoint(ckpt)
    assert saved["step"] == 2 and saved["optimizer"]["state"]
    result = train_depth(cfg, ShiftedFrames(), device="cpu", checkpoint_path=ckpt)
    assert result.step == 4 and len(result.losses) == 2
    with pytest.raises(ValueError, match="different config"):
        train_depth(DepthConfig.small(finetune_iters=5, **TINY), ShiftedFrames(), device="cpu", checkpoint_path=ckpt)


@pytest.mark.slow
def test_frozen_phase_then_finetune_with_feature_distance(tmp_path) -> None:
    init = tmp_path / "enc.pth"
    torch.save(ResNetEncoder(18).state_dict(), init)
    cfg = DepthConfig.small(frozen_iters=2, finetune_iters=2, weights=str(init), **TINY)
    stages: list[str] = []
    ckpt = tmp_path / "depth.pt"
    start = DepthModel(cfg).encoder.state_dict()

    def after_phase1(stage: str, fraction: float, message: str) -> None:
        stages.append(stage)
        if fraction == 0.5:
            raise KeyboardInterrupt  # inspect the phase-1 checkpoint

    with pytest.raises(KeyboardInterrupt):
        train_depth(cfg, ShiftedFrames(), device="cpu", progress=after_phase1, checkpoint_path=ckpt)
    phase1 = {k[len("encoder.") :]: v for k, v in load_checkpoint(ckpt)["model"].items() if k.startswith("encoder.")}
    assert torch.equal(phase1["layer1.0.conv1.weight"], start["layer1.0.conv1.weight"])  # frozen weights
    assert not torch.equal(phase1["bn1.running_mean"], start["bn1.running_mean"])  # BN stats still update

    def record(stage: str, fraction: float, message: str) -> None:
        stages.append(stage)

    result = train_depth(cfg, ShiftedFrames(), device="cpu", progress=record, checkpoint_path=ckpt)
    assert stages == ["depth_frozen_encoder", "depth_frozen_encoder", "depth_finetune", "depth_finetune"]
    assert not torch.equal(result.model.encoder.layer1[0].conv1.weight, start["layer1.0.conv1.weight"])
