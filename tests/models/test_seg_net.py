"""Segmentation networks: shapes, depth transfer, gated attention, parameter groups (method.md §1.4–1.6)."""

from __future__ import annotations

import pytest
import torch

from models.depth_decoder import DepthDecoder
from models.encoder import ResNetEncoder
from models.pose import PoseNet
from models.seg_net import GatedAttention, MultiTaskNet, SegNet, build_seg_net, load_pose_init
from tests.models.seg_fakes import NUM_CLASSES, tiny_net


@pytest.fixture(scope="module")
def depth_ckpt(tmp_path_factory):
    """A depth checkpoint in the depth model's layout: {"model": encoder.* / decoder.* / pose.*, "config": …}."""
    cfg = tiny_net()
    torch.manual_seed(123)
    enc = ResNetEncoder(cfg.encoder_layers, cfg.dilate_last)
    dec = DepthDecoder(enc.channels, cfg.num_ch_dec, cfg.scales, cfg.aspp, cfg.batch_norm)
    pose = PoseNet()
    state = {f"encoder.{k}": v for k, v in enc.state_dict().items()}
    state |= {f"decoder.{k}": v for k, v in dec.state_dict().items()}
    state |= {f"pose.{k}": v for k, v in pose.state_dict().items()}
    path = tmp_path_factory.mktemp("depth") / "depth.pt"
    torch.save({"model": state, "config": {}}, path)  # the layout models.checkpoint writes
    return path, state


def test_transfer_net_output_and_head():
    net = build_seg_net(tiny_net("transfer"))
    assert isinstance(net, SegNet)
    out = net(torch.rand(2, 3, 32, 48))
    assert out["seg"].shape == (2, NUM_CLASSES, 32, 48) and torch.isfinite(out["seg"]).all()
    # the exp-210 head: 1×1 no-bias projection to 64 then 1×1 classifier; no disparity heads in the decoder copy
    assert net.project.kernel_size == (1, 1) and net.project.bias is None and net.project.out_channels == 64
    assert net.classifier.kernel_size == (1, 1) and net.classifier.bias is not None
    assert len(net.decoder.dispconvs) == 0


def test_transfer_loads_encoder_and_decoder_from_depth(depth_ckpt):
    path, state = depth_ckpt
    net = build_seg_net(tiny_net("transfer"), init=path)
    for k, v in net.encoder.state_dict().items():
        assert torch.equal(v, state[f"encoder.{k}"])
    dec = net.decoder.state_dict()
    assert len(dec) > 0
    for k, v in dec.items():
        assert torch.equal(v, state[f"decoder.{k}"])
    scratch = build_seg_net(tiny_net("scratch"))
    k = "convs.upconv_0_1.conv.weight"
    assert not torch.equal(scratch.decoder.state_dict()[k], state[f"decoder.{k}"])


def test_scratch_refuses_a_depth_checkpoint_and_bad_files_raise(depth_ckpt, tmp_path):
    with pytest.raises(ValueError, match="scratch"):
        build_seg_net(tiny_net("scratch"), init=depth_ckpt[0])
    torch.save({"model": {"foo.weight": torch.zeros(1)}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a depth checkpoint"):
        build_seg_net(tiny_net("transfer"), init=tmp_path / "x.pt")


def test_gated_attention_starts_at_half_gate():
    sa = GatedAttention(4)
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(sa.att.weight, torch.zeros_like(sa.att.weight))
    assert sa.conv.bias is None and sa.att.bias is None
    torch.testing.assert_close(sa(x), 0.5 * sa.conv(x))


def test_multitask_outputs_init_and_groups(depth_ckpt):
    path, state = depth_ckpt
    net = build_seg_net(tiny_net("multitask"), init=path)
    assert isinstance(net, MultiTaskNet)
    for dec in (net.depth_decoder, net.seg_decoder):  # both decoders start from the depth decoder
        k = "convs.upconv_2_1.conv.weight"
        assert torch.equal(dec.state_dict()[k], state[f"decoder.{k}"])
    assert torch.equal(net.depth_decoder.dispconvs["0"].weight, state["decoder.dispconvs.0.weight"])
    out = net(torch.rand(2, 3, 32, 32))
    assert out["seg"].shape == (2, NUM_CLASSES, 32, 32)
    assert out["seg_side"].shape == (2, NUM_CLASSES, 8, 8)  # H/4, not upsampled inside the model
    assert {s: tuple(d.shape) for s, d in out["disp"].items()} == {
        0: (2, 1, 32, 32),
        1: (2, 1, 16, 16),
        2: (2, 1, 8, 8),
        3: (2, 1, 4, 4),
    }
    assert all(((d > 0) & (d < 1)).all() for d in out["disp"].values())
    groups = net.param_groups()
    ids = {k: {id(p) for p in v} for k, v in groups.items()}
    assert sum(len(v) for v in ids.values()) == len(list(net.parameters()))  # a partition
    assert id(net.sa_seg.conv.weight) in ids["depth"] and id(net.sa_depth.conv.weight) in ids["decoder"]
    assert id(net.side_classifier.weight) in ids["decoder"]
    pose = PoseNet()
    load_pose_init(pose, path)
    assert torch.equal(pose.decoder.pose2.weight, state["pose.decoder.pose2.weight"])


def test_exchange_reaches_both_tasks():
    net = build_seg_net(tiny_net("multitask"))
    out = net(torch.rand(2, 3, 32, 32))
    (out["seg"].sum() + out["disp"][0].sum()).backward()
    # segmentation loss reaches the depth decoder's early stages through SA_depth, and vice versa
    assert net.depth_decoder.convs["upconv_3_1"].conv.weight.grad.abs().sum() > 0
    assert net.sa_depth.conv.weight.grad.abs().sum() > 0 and net.sa_seg.conv.weight.grad.abs().sum() > 0


def test_both_exchange_messages_come_from_the_pre_exchange_maps():
    """seg ← seg + SA_depth(depth) and depth ← depth + SA_seg(seg) with both right-hand sides taken before either sum
    (the authors' PAD decoder): SA_seg must see the segmentation map the side head sees, not one that already holds
    the depth message."""
    torch.manual_seed(0)
    net = build_seg_net(tiny_net("multitask")).eval()
    for sa in (net.sa_depth, net.sa_seg):
        torch.nn.init.normal_(sa.att.weight, std=0.1)  # a non-zero message both ways (the gate starts flat at 0.5)
    seen: dict[str, torch.Tensor] = {}
    net.side_classifier.register_forward_hook(lambda _m, inputs, _o: seen.update(pre=inputs[0].detach().clone()))
    net.sa_seg.register_forward_hook(lambda _m, inputs, _o: seen.update(sa_seg=inputs[0].detach().clone()))
    with torch.no_grad():
        net(torch.rand(2, 3, 32, 32))
    assert net.sa_depth.conv.weight.abs().sum() > 0
    torch.testing.assert_close(seen["sa_seg"], seen["pre"], rtol=0, atol=0)
