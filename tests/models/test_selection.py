"""farthest_point_selection against a brute-force dense N×N implementation (method.md §4.3 step 4)."""

from __future__ import annotations

import math

import pytest
import torch

from models.selection import farthest_point_selection


def dense_ifp(features, labeled, n_new, bias=None, candidates=None):
    """The dense formulation, written independently: full float64 distance matrix, bias added column-wise, greedy
    argmax of the min over the labeled/chosen rows; labeled, chosen and non-candidate columns excluded; torch.argmax
    breaks ties (lowest index); an empty labeled set gives +inf everywhere."""
    x = features.to(torch.float64)
    n = x.shape[0]
    dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1).sqrt()  # (N, N)
    if bias is not None:
        dist = dist + bias.to(torch.float64)[None, :]
    eligible = torch.ones(n, dtype=torch.bool)
    if candidates is not None:
        eligible = torch.zeros(n, dtype=torch.bool)
        eligible[torch.as_tensor(candidates, dtype=torch.long)] = True
    chosen = list(labeled)
    eligible[torch.as_tensor(chosen, dtype=torch.long)] = False
    out = []
    while len(out) < n_new and eligible.any():
        if chosen:
            score = dist[chosen].min(0).values
        else:
            score = torch.full((n,), math.inf, dtype=torch.float64)
        score = torch.where(eligible, score, torch.tensor(-math.inf, dtype=torch.float64))
        j = int(torch.argmax(score))
        out.append(j)
        chosen.append(j)
        eligible[j] = False
    return out


def _case(seed, n, d, dtype=torch.float32, n_labeled=3, with_bias=False, with_candidates=False, n_new=10):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, d, generator=g).to(dtype)
    labeled = torch.randperm(n, generator=g)[:n_labeled].tolist()
    bias = torch.rand(n, generator=g) * 2.0 if with_bias else None
    candidates = torch.randperm(n, generator=g)[: n // 2].tolist() if with_candidates else None
    return features, labeled, n_new, bias, candidates


@pytest.mark.parametrize(
    "seed,n,d,dtype,n_labeled,with_bias,with_candidates,n_new",
    [
        (0, 50, 8, torch.float32, 1, False, False, 20),
        (1, 200, 64, torch.float32, 5, True, False, 40),
        (2, 150, 33, torch.float16, 0, False, False, 30),  # cold-start convention: empty labeled
        (3, 120, 16, torch.float32, 4, True, True, 25),
        (4, 300, 128, torch.float16, 10, True, True, 60),
        (5, 80, 3, torch.float64, 2, False, True, 100),  # more requested than eligible
        (6, 2, 5, torch.float32, 1, False, False, 5),
        (7, 256, 1, torch.float32, 0, True, False, 50),  # 1-D: many near-equal distances
    ],
)
def test_matches_dense_reference(seed, n, d, dtype, n_labeled, with_bias, with_candidates, n_new):
    features, labeled, n_new, bias, candidates = _case(seed, n, d, dtype, n_labeled, with_bias, with_candidates, n_new)
    got = farthest_point_selection(features, labeled, n_new, bias=bias, candidates=candidates)
    want = dense_ifp(features, labeled, n_new, bias=bias, candidates=candidates)
    assert got == want
    n_eligible = len(set(candidates or range(n)) - set(labeled))
    assert len(got) == min(n_new, n_eligible)


def test_exact_ties_go_to_lowest_index():
    # Duplicated rows and a small integer lattice: many scores are exactly equal, so the tie-break decides.
    g = torch.Generator().manual_seed(11)
    base = torch.randint(0, 3, (60, 6), generator=g).float()
    features = torch.cat([base, base[:20]])  # rows 60..79 duplicate rows 0..19
    for labeled in ([], [5], [61, 3]):
        got = farthest_point_selection(features, labeled, 40)
        assert got == dense_ifp(features, labeled, 40)
    # two exact copies of the farthest point: the lower index comes first
    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [5.0, 5.0]])
    assert farthest_point_selection(pts, [0], 2) == [2, 1]


def test_bias_dominates_and_labeled_excluded():
    features = torch.zeros(6, 4)  # all distances zero: the bias alone ranks the images
    bias = torch.tensor([0.0, 5.0, 1.0, 9.0, 3.0, 9.0])
    assert farthest_point_selection(features, [3], 4, bias=bias) == [5, 1, 4, 2]


def test_candidate_mask_and_list_agree():
    features, labeled, _, bias, _ = _case(21, 100, 10, with_bias=True)
    mask = torch.zeros(100, dtype=torch.bool)
    mask[::3] = True
    from_mask = farthest_point_selection(features, labeled, 15, bias=bias, candidates=mask)
    from_list = farthest_point_selection(features, labeled, 15, bias=bias, candidates=mask.nonzero()[:, 0].tolist())
    assert from_mask == from_list
    assert all(i % 3 == 0 and i not in labeled for i in from_mask)


def test_larger_than_chunks_matches_dense():
    # Small chunk sizes force the chunked and bucketed update paths to run many blocks.
    features, labeled, n_new, bias, candidates = _case(31, 400, 24, torch.float16, 7, True, False, 80)
    got = farthest_point_selection(features, labeled, n_new, bias=bias, chunk_rows=17)
    assert got == dense_ifp(features, labeled, n_new, bias=bias)


def test_nothing_to_pick_and_bad_inputs():
    features = torch.randn(5, 3)
    assert farthest_point_selection(features, range(5), 3) == []
    assert farthest_point_selection(features, [0], 0) == []
    with pytest.raises(ValueError):
        farthest_point_selection(features[0], [], 1)
    with pytest.raises(IndexError):
        farthest_point_selection(features, [7], 1)
    with pytest.raises(ValueError):
        farthest_point_selection(features, [0], 1, bias=torch.zeros(4))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    features, labeled, n_new, bias, candidates = _case(41, 2000, 256, torch.float16, 3, True, True, 100)
    cpu = farthest_point_selection(features, labeled, n_new, bias=bias, candidates=candidates)
    gpu = farthest_point_selection(features.cuda(), labeled, n_new, bias=bias.cuda(), candidates=candidates)
    assert gpu == cpu
