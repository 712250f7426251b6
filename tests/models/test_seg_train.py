"""Semi-supervised step and training loop (method.md §3.3–3.4) on tiny random data."""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from models.checkpoint import load_checkpoint
from models.seg_step import (
    ConsistencyOptions,
    consistency_loss,
    mixing_disp,
    normalize_disp,
    sde_batch_loss,
    supervised_loss,
)
from models.seg_train import evaluate, load_seg_model, train_segmentation, training_changes
from tests.models.seg_fakes import NUM_CLASSES, SequenceFakes, StripesDataset, tiny_cfg, tiny_net


class PixelNet(nn.Module):
    """1×1 conv 'segmenter' with a fake depth head (disp = sigmoid of the red channel) for fast step tests."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, NUM_CLASSES, 1)

    def forward(self, x):
        return {"seg": self.conv(x), "disp": {0: torch.sigmoid(x[:, :1])}}


def test_supervised_loss_averages_final_and_side():
    label = torch.randint(0, NUM_CLASSES, (2, 8, 8))
    label[0, 0, 0] = 255
    logits = torch.randn(2, NUM_CLASSES, 8, 8)
    ce = nn.functional.cross_entropy(logits, label, ignore_index=255)
    assert supervised_loss({"seg": logits}, label).item() == pytest.approx(ce.item())
    side = torch.zeros(2, NUM_CLASSES, 2, 2)  # uniform logits → CE = log C
    both = supervised_loss({"seg": logits, "seg_side": side}, label).item()
    assert both == pytest.approx((ce.item() + math.log(NUM_CLASSES)) / 2, rel=1e-5)


def test_normalize_disp_per_image():
    d = torch.stack([torch.linspace(2, 4, 16).view(1, 4, 4), torch.full((1, 4, 4), 0.3)])
    n = normalize_disp(d)
    assert n[0].min() == 0 and n[0].max() == 1 and torch.equal(n[1], torch.zeros(1, 4, 4))


def test_consistency_with_ground_truth_targets_is_fully_confident():
    torch.manual_seed(0)
    student, teacher = PixelNet(), PixelNet()
    ub = {
        "image": torch.rand(2, 3, 8, 8),
        "label": torch.ones(2, 8, 8, dtype=torch.long),
        "is_labeled": torch.tensor([True, True]),
        "pseudo_disp": torch.rand(2, 1, 8, 8),
    }
    opts = ConsistencyOptions(mix="depthmix", strong_aug=False)
    loss, info = consistency_loss(student, teacher, ub, opts, generator=torch.Generator().manual_seed(0))
    assert info["confidence"] == 1.0  # every pixel carries a one-hot target
    # the mixed targets are class 1 everywhere, whatever the mask: L_u is the plain CE to class 1 on the mixed image
    mask_free = nn.functional.cross_entropy(student.conv(ub["image"]), ub["label"])
    assert 0 < info["mixed"] < 1
    assert loss.item() > 0 and abs(loss.item() - mask_free.item()) < 0.5
    loss.backward()
    assert student.conv.weight.grad is not None and teacher.conv.weight.grad is None


def test_mixing_disp_sources():
    student = PixelNet()
    image = torch.rand(2, 3, 4, 4)
    online = mixing_disp({"image": image}, student, ConsistencyOptions(online_depth=True), None)
    torch.testing.assert_close(online, normalize_disp(torch.sigmoid(image[:, :1])))
    pre = torch.rand(2, 1, 4, 4)
    assert torch.equal(mixing_disp({"image": image, "pseudo_disp": pre}, student, ConsistencyOptions(), None), pre)
    assert mixing_disp({"image": image}, student, ConsistencyOptions(mix="classmix"), None) is None
    with pytest.raises(ValueError, match="pseudo_disp"):
        mixing_disp({"image": image}, student, ConsistencyOptions(), None)


@pytest.mark.slow
def test_train_checkpoint_resume_schedule_and_progress(tmp_path):
    calls = []
    ckpt = tmp_path / "seg.pt"
    lab, unl = StripesDataset(4), StripesDataset(4, labeled=False, with_disp=True)
    cfg = tiny_cfg("transfer", iterations=2, lr_step_at=0.5, checkpoint_every=1)
    r1 = train_segmentation(cfg, lab, unl, device="cpu", checkpoint_path=ckpt, progress=lambda *a: calls.append(a))
    assert [c[1] for c in calls if c[0] == "train"] == [0.5, 1.0]
    blob = load_checkpoint(ckpt)
    assert blob["step"] == 2 and blob["config"]["net"]["variant"] == "transfer" and "teacher" in blob
    # step at 50% of 2 iterations: both lrs were multiplied by 0.1 once
    assert [g["lr"] for g in blob["optimizer"]["param_groups"]] == pytest.approx([1e-4, 1e-3])
    # resume to 3 iterations: continues at step 3 from the stored weights
    cfg3 = tiny_cfg("transfer", iterations=3, lr_step_at=0.5, checkpoint_every=1)
    w_before = r1.model.classifier.weight.detach().clone()
    r2 = train_segmentation(cfg3, lab, unl, device="cpu", checkpoint_path=ckpt, log_every=1)
    assert r2.step == 3 and [h["step"] for h in r2.history if "sup" in h][-1] == 3
    assert load_checkpoint(ckpt)["step"] == 3
    assert not torch.equal(r2.model.classifier.weight, w_before)
    # a different network in the checkpoint is refused
    with pytest.raises(ValueError, match="differs"):
        train_segmentation(tiny_cfg("multitask", iterations=3), lab, unl, device="cpu", checkpoint_path=ckpt)
    loaded = load_seg_model(ckpt)
    torch.testing.assert_close(loaded.classifier.weight, r2.model.classifier.weight)


@pytest.mark.slow
def test_supervised_training_learns_and_evaluates():
    lab = StripesDataset(4)
    cfg = tiny_cfg("scratch", iterations=12, mean_teacher=False, lr=0.05, encoder_lr=0.05, lr_step_at=1.0)
    r = train_segmentation(cfg, lab, None, device="cpu", val_ds=StripesDataset(2, seed=1), log_every=1)
    losses = [h["sup"] for h in r.history if "sup" in h]
    assert losses[-1] < 0.8 * losses[0]
    assert 0.0 <= r.miou <= 1.0 and len(r.per_class) == NUM_CLASSES
    miou, per = evaluate(r.model, torch.utils.data.DataLoader(StripesDataset(2, seed=1), batch_size=2), "cpu")
    assert miou == pytest.approx(r.miou)


@pytest.mark.slow
@pytest.mark.parametrize("variant,mix", [("multitask", "depthmix"), ("transfer", "classmix")])
def test_semi_supervised_variants_run(variant, mix):
    lab, unl = StripesDataset(2), StripesDataset(4, labeled=False, with_disp=(variant != "multitask"))
    seq = SequenceFakes(2) if variant == "multitask" else None  # online depth + the depth loss on sequences
    cfg = tiny_cfg(variant, iterations=2, mix=mix)
    r = train_segmentation(cfg, lab, unl, device="cpu", log_every=1, sequence_ds=seq)
    last = r.history[-1]
    assert {"sup", "unsup", "confidence", "mixed", "grad_norm"} <= set(last)
    assert ("sde" in last) == (variant == "multitask")
    assert all(math.isfinite(v) for v in last.values())
    assert 0.0 < last["mixed"] < 1.0


def test_mean_teacher_requires_unlabeled_data():
    with pytest.raises(ValueError, match="unlabeled"):
        train_segmentation(tiny_cfg(), StripesDataset(2), None, device="cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_semi_supervised_step_on_cuda():
    lab, unl = StripesDataset(2), StripesDataset(4, labeled=False, with_disp=True)
    r = train_segmentation(tiny_cfg("transfer", iterations=2), lab, unl, device="cuda", log_every=1)
    assert next(r.model.parameters()).is_cuda
    assert all(math.isfinite(v) for v in r.history[-1].values())


@pytest.mark.slow
def test_resume_warns_only_about_settings_that_change_the_rest_of_the_run(tmp_path, caplog):
    ckpt = tmp_path / "seg.pt"
    lab, unl = StripesDataset(4), StripesDataset(4, labeled=False, with_disp=True)

    def resume_warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "models.seg_train" and r.levelno >= logging.WARNING]

    train_segmentation(tiny_cfg("transfer", iterations=1, checkpoint_every=1), lab, unl, device="cpu",
                       checkpoint_path=ckpt)  # fmt: skip
    # how the run is driven (length, eval/checkpoint cadence, loader workers, AMP) is no cause for a warning
    run_only = tiny_cfg("transfer", iterations=2, eval_every=1, checkpoint_every=2, amp=False)
    train_segmentation(run_only, lab, unl, device="cpu", checkpoint_path=ckpt)
    assert resume_warnings() == []
    # a finished checkpoint trains no further, so whatever else changed does not matter
    train_segmentation(tiny_cfg("transfer", iterations=2, lr=0.5), lab, unl, device="cpu", checkpoint_path=ckpt)
    assert resume_warnings() == []
    # what the remaining steps optimise does matter: named, old → new
    changed = tiny_cfg("transfer", iterations=3, lr=0.5, mix="classmix")
    train_segmentation(changed, lab, unl, device="cpu", checkpoint_path=ckpt)
    [warning] = resume_warnings()
    assert warning.startswith("resuming at step 2 of 3 with training settings that differ from the checkpoint's")
    assert warning.endswith(": lr 0.01 → 0.5, mix 'depthmix' → 'classmix'")
    assert training_changes(run_only, replace(run_only, num_workers=2, seed=3)) == {"seed": (0, 3)}


def test_loading_a_trained_checkpoint_does_not_warn_about_a_random_decoder(tmp_path, caplog):
    ckpt = tmp_path / "seg.pt"
    lab, unl = StripesDataset(4), StripesDataset(4, labeled=False, with_disp=True)
    train_segmentation(tiny_cfg("transfer", iterations=1, checkpoint_every=1), lab, unl, device="cpu",
                       checkpoint_path=ckpt)  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="models.seg_net"):
        load_seg_model(ckpt)
    assert [r.getMessage() for r in caplog.records if r.name == "models.seg_net"] == []
    # building the same net for training without a depth checkpoint still warns: there it means something
    with caplog.at_level(logging.WARNING, logger="models.seg_net"):
        from models.seg_net import build_seg_net

        build_seg_net(tiny_cfg("transfer").net)
    assert any("decoder initialised at random" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_multitask_depth_loss_on_the_labeled_and_unlabeled_batches(tmp_path, monkeypatch):
    """The method's placement (§1.6 exp 212): the multi-task net's depth loss on the labeled and on the unlabeled
    batch, on unjittered frames at the training crop, with no separate sequence batch."""
    from contracts.cityscapes import find_frames
    from models import seg_train
    from models.data.datasets import LabeledDataset, UnlabeledDataset
    from models.data.synth.world import generate_world

    world = generate_world(tmp_path / "world", sequences=6, size=(32, 64), seed=2).out
    train = [r for r in find_frames(world, "train") if r.label is not None]
    aug = {"size": (32, 64), "crop": (32, 32), "flip": True, "neighbours": True}
    lab = LabeledDataset(train[:2], **aug)
    unl = UnlabeledDataset(train, is_labeled=[i < 2 for i in range(len(train))], **aug)
    seen = []

    def recording(net, pose_net, batch, disps=None):
        seen.append({k: tuple(v.shape) for k, v in batch.items() if k in ("image", "prev", "image_aug", "crop_box")})
        return sde_batch_loss(net, pose_net, batch, disps=disps)

    monkeypatch.setattr(seg_train, "sde_batch_loss", recording)
    cfg = replace(
        tiny_cfg("multitask", iterations=2, mix="depthmix"), net=replace(tiny_net("multitask"), num_classes=19)
    )
    r = train_segmentation(cfg, lab, unl, device="cpu", log_every=1)
    last = r.history[-1]
    assert math.isfinite(last["sde"]) and math.isfinite(last["sde_unlabeled"])
    assert len(seen) == 4  # labeled and unlabeled, two steps
    assert all(s == {"image": (2, 3, 32, 32), "prev": (2, 3, 32, 32)} for s in seen)  # cropped, no jitter copies
