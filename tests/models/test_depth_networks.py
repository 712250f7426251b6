"""Encoder, depth decoder and pose network: shapes, channel contract, stage-wise API, weight loading (tiny, CPU)."""

from __future__ import annotations

import pytest
import torch

from models.depth_decoder import DepthDecoder
from models.encoder import ResNetEncoder
from models.pose import PoseNet


@pytest.mark.parametrize(("layers", "dilate", "f4_stride"), [(18, False, 32), (50, True, 16)])
def test_encoder_feature_contract(layers: int, dilate: bool, f4_stride: int) -> None:
    torch.manual_seed(0)
    enc = ResNetEncoder(layers, dilate_last=dilate).eval()
    feats = enc(torch.rand(2, 3, 64, 96))
    assert len(feats) == 5 and len(enc.channels) == 5
    strides = [2, 4, 8, 16, f4_stride]
    for f, c, s in zip(feats, enc.channels, strides, strict=True):
        assert f.shape == (2, c, 64 // s, 96 // s)
        assert torch.isfinite(f).all()


def test_encoder_normalises_input_itself() -> None:
    enc = ResNetEncoder(18).eval()
    x = torch.full((1, 3, 32, 32), 0.45)  # the method's mean: normalised input is exactly zero
    with torch.no_grad():
        f0 = enc(x)[0]
        expected = enc.relu(enc.bn1(enc.conv1(torch.zeros_like(x))))
    assert torch.allclose(f0, expected)


def test_encoder_rejects_dilated_basicblock() -> None:
    with pytest.raises(ValueError, match="dilate_last"):
        ResNetEncoder(18, dilate_last=True)


def test_six_channel_conv1_tiles_and_halves_rgb_kernel(tmp_path) -> None:
    rgb = ResNetEncoder(18)
    path = tmp_path / "enc.pth"
    torch.save(rgb.state_dict(), path)
    pair = ResNetEncoder(18, in_channels=6)
    # conv1's 3-channel weight does not fit 6 channels and is skipped; everything else loads
    pair.load_weights_file(path)
    assert torch.equal(pair.layer4[0].conv1.weight, rgb.layer4[0].conv1.weight)
    # the widening rule itself: two identical frames give the RGB response
    w = rgb.conv1.weight
    from models.encoder import _widen_conv1

    wide = _widen_conv1(rgb.conv1, 6)
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(wide(torch.cat([x, x], 1)), torch.nn.functional.conv2d(x, w, stride=2, padding=3), atol=1e-5)


def test_encoder_loads_depth_checkpoint_keys(tmp_path) -> None:
    src = ResNetEncoder(18)
    torch.save({"model": {f"encoder.{k}": v for k, v in src.state_dict().items()}, "step": 3}, tmp_path / "c.pt")
    dst = ResNetEncoder(18, weights=str(tmp_path / "c.pt"))
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


@pytest.mark.parametrize(("layers", "dilate"), [(18, False), (50, True)])
def test_depth_decoder_shapes(layers: int, dilate: bool) -> None:
    torch.manual_seed(0)
    enc = ResNetEncoder(layers, dilate_last=dilate)
    dec = DepthDecoder(enc.channels)
    out = dec(enc(torch.rand(2, 3, 64, 128)))
    widths = dict(enumerate((64, 128, 128, 256, 256)))
    for i, f in out["upconv"].items():
        stride = 16 if i == 4 else 2**i
        assert f.shape == (2, widths[i], 64 // stride, 128 // stride), i
    assert sorted(out["disp"]) == [0, 1, 2, 3]
    for s, d in out["disp"].items():
        assert d.shape == (2, 1, 64 // 2**s, 128 // 2**s)
        assert (d > 0).all() and (d < 1).all()


def test_stagewise_api_equals_forward_and_seg_copy_loads_depth_weights() -> None:
    torch.manual_seed(0)
    enc = ResNetEncoder(18)
    dec = DepthDecoder(enc.channels).eval()
    feats = enc(torch.rand(2, 3, 64, 64))
    full = dec(feats)
    x, first = dec.run_stages(feats, stages=(4, 3, 2))
    x, rest = dec.run_stages(feats, stages=(1, 0), x=x)
    assert set(first) == {4, 3, 2} and set(rest) == {1, 0}
    assert torch.allclose(dec.disp(0, x), full["disp"][0])
    assert torch.allclose(first[3], full["upconv"][3])
    seg = DepthDecoder(enc.channels, with_disp=False).eval()
    missing, unexpected = seg.load_state_dict(dec.state_dict(), strict=False)
    assert missing == [] and all(k.startswith("dispconvs.") for k in unexpected)
    assert seg(feats)["disp"] == {}
    assert torch.allclose(seg(feats)["upconv"][0], full["upconv"][0])


def test_dec9_variant_with_batch_norm() -> None:
    enc = ResNetEncoder(18)
    dec = DepthDecoder(enc.channels, num_ch_dec=(64, 64, 128, 128, 256), batch_norm=True, aspp=False)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in dec.convs["upconv_1_0"].modules())
    out = dec(enc(torch.rand(2, 3, 64, 64)))
    assert out["upconv"][1].shape == (2, 64, 32, 32)


def test_pose_net_outputs_small_motion() -> None:
    torch.manual_seed(0)
    net = PoseNet()
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    axisangle, translation = net(a, b)
    assert axisangle.shape == (2, 3) and translation.shape == (2, 3)
    assert torch.isfinite(axisangle).all()
    assert axisangle.abs().max() < 0.1  # ×0.01 scaling keeps the untrained prediction near identity
    assert net.encoder.conv1.in_channels == 6


def test_imagenet_weights_load_from_torchvisions_cache_file_or_fall_back_with_a_warning(tmp_path, monkeypatch, caplog):
    """ImageNet weights come from torchvision's own file in the torch hub cache (no download when it is there); a run
    that only prefers them (the supervised baseline) falls back to random weights with a warning when it is not."""
    import logging

    from models.encoder import imagenet_or_none, imagenet_weights_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = imagenet_weights_file(18)
    assert path.parent == tmp_path / "hub" / "checkpoints" and path.name.startswith("resnet18-")
    with caplog.at_level(logging.WARNING, logger="models.encoder"):
        assert imagenet_or_none(18) is None
    assert "random initialisation" in caplog.text and path.name in caplog.text

    torch.manual_seed(5)
    stand_in = ResNetEncoder(18).state_dict()  # torchvision's layout (no fc: only present keys are compared below)
    path.parent.mkdir(parents=True)
    torch.save(stand_in | {"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}, path)
    assert imagenet_or_none(18) == "imagenet"
    loaded = ResNetEncoder(18, weights="imagenet").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in stand_in.items())
