"""Greedy farthest-point selection with O(N·D) memory that picks exactly what the dense N×N formulation picks.

The method (`method.md` §4.3, step 4) builds the full distance matrix D (N×N, `torch.cdist`), adds the bias column-wise
(D[:, j] += λ·c_j), zeroes the diagonal, and then repeats: score_j = min over the labeled/chosen set L of D[i, j],
j* = argmax_j score_j, add j* to L. For 100k images that matrix is 40 GB. This module never builds it:

* a running vector m_j = min distance of image j to the centres seen so far (O(N) memory), with a per-image counter
  k_j of how many centres m_j already accounts for;
* lazy updates: m_j only ever decreases, so a stale m_j + bias_j is an upper bound of image j's score. Each pick
  brings up to date only the images whose upper bound could still beat the best up-to-date score, and it does so
  against all the centres they missed at once: a (rows × centres) matrix product instead of one pass over the whole
  feature array per pick. Late picks touch few rows;
* distances are computed in chunks in float32 (half-precision storage is upcast chunk by chunk) through
  ||x||² + ||c||² − 2·x·c. Every such distance carries a rigorous rounding-error bound (`_error_bound`), and
  whenever two images are within that bound of the best score, their scores are recomputed exactly in float64 by
  direct differences before the argmax. So near-ties are decided like the float64 dense reference decides them.

What "identical picks" means here: the same list as the dense formulation computed in float64 on the same stored
values (fp16 storage upcast, not the float32 features it may have been rounded from), with labeled images, chosen
images and non-candidates excluded from the argmax, and ties broken like `torch.argmax` (lowest index). Two scores
that differ by less than float64 rounding (~1e-12 relative) are not distinguishable by either implementation.

Two deliberate differences from the paper's code, both documented in docs/selection.md:
* labeled/chosen images are excluded rather than given score 0, and there is no "stop early when the argmax is
  already labeled": the original only stops when every eligible score is ≤ 0 (exact duplicates of labeled images
  with zero bias); we keep filling the requested batch;
* an empty labeled set is allowed: the min over an empty set is +inf, so (as torch.argmax on an all-inf row would)
  the first pick is the lowest eligible index. `cold_start_selection` in `models.strategies` seeds with a random
  image instead, as the method does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

# Rows gathered and upcast at once: bounds the temporary (rows × D) float32 buffer (2048 × 8192 × 4 B = 64 MiB).
CHUNK_ROWS = 2048
# Centres multiplied at once: bounds the (rows × centres) distance block.
CHUNK_CENTRES = 2048
# Rows brought up to date in the first lazy round of a pick; doubled each further round of the same pick.
FIRST_BATCH = 256


def _squared_norms(features: Tensor, chunk_rows: int) -> Tensor:
    """Per-row squared norms in float64, computed chunk by chunk."""
    out = torch.empty(features.shape[0], dtype=torch.float64, device=features.device)
    for start in range(0, features.shape[0], chunk_rows):
        block = features[start : start + chunk_rows]  # (r, D)
        # float64 accumulation without a float64 copy of the block; the extra ulp is far inside the error bounds
        out[start : start + chunk_rows] = torch.linalg.vector_norm(block, dim=1, dtype=torch.float64) ** 2
    return out


def _approx_distances(x: Tensor, sq_x: Tensor, centres: Tensor, sq_c: Tensor, dtype: torch.dtype) -> Tensor:
    """Euclidean distances (r, t) in float64 from a matrix product: fast, with a bounded rounding error."""
    dot = x.to(dtype) @ centres.T  # (r, t); centres are already in the compute dtype
    d2 = sq_x[:, None] + sq_c[None, :] - 2.0 * dot
    return d2.clamp_min_(0.0).sqrt_()


def _error_bound(e2: Tensor, m: Tensor) -> Tensor:
    """Bound on |m_approx − m_exact| for a min over approximate distances, given a bound e2 on each squared one.

    For the centre c' attaining the approximate min a = m²: |√a − √b| ≤ |a − b| / max(√a, √|a − b|). The exact
    minimiser c* has an approximate squared distance ≥ m², so the same bound holds for it; the min is off by at most
    that much in either direction.
    """
    return e2 / torch.maximum(m, e2.sqrt()).clamp_min(torch.finfo(torch.float64).tiny)  # 0 when e2 = 0


def _exact_min_distance(x: Tensor, centres: Tensor) -> Tensor:
    """min over centres of the float64 direct-difference distance (the dense reference's arithmetic)."""
    diff = x.to(torch.float64)[None, :] - centres.to(torch.float64)  # (t, D)
    return (diff * diff).sum(1).sqrt().min()


@torch.no_grad()
def farthest_point_selection(
    features: Tensor,
    labeled: Sequence[int],
    n_new: int,
    bias: Tensor | None = None,
    candidates: Sequence[int] | Tensor | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> list[int]:
    """Greedy iterative farthest-point selection (`method.md` §4.3 step 4) without the N×N matrix.

    At each step the eligible image j maximising (Euclidean distance to its nearest labeled or already-chosen image)
    + bias_j is chosen; ties go to the lowest index. Eligible = in `candidates` (all images when None), not labeled,
    not chosen yet. Memory: the features plus O(N) vectors, the centres ((|labeled| + n_new) × D in the storage
    dtype) and chunk buffers. Runs where `features` lives (CPU or CUDA).

    Args:
        features: (N, D) float16/bfloat16/float32/float64 diversity features (`models.features`).
        labeled: indices of already-labeled images, the initial centres. May be empty (see module docstring).
        n_new: how many images to choose. Fewer are returned when fewer are eligible.
        bias: (N,) per-image additive score, λ·difficulty in the method (λ = 1000). Ignored for labeled images.
        candidates: indices (or an (N,) bool mask) of the images that may be chosen (the method's preselection).

    Returns:
        The chosen indices into `features`, in pick order.
    """
    if features.dim() != 2:
        raise ValueError(f"features must be (N, D), got shape {tuple(features.shape)}")
    n, dim = features.shape
    device = features.device
    dtype = torch.float64
    u = 2.0**-53

    centre_idx = list(dict.fromkeys(int(i) for i in labeled))  # order kept, duplicates dropped
    if any(i < 0 or i >= n for i in centre_idx):
        raise IndexError(f"labeled indices must lie in [0, {n})")
    eligible = torch.ones(n, dtype=torch.bool, device=device)
    if candidates is not None:
        cand = torch.as_tensor(candidates, device=device)
        if cand.dtype == torch.bool:
            if cand.shape != (n,):
                raise ValueError(f"a candidate mask must have shape ({n},), got {tuple(cand.shape)}")
            eligible = cand.clone()
        else:
            eligible = torch.zeros(n, dtype=torch.bool, device=device)
            eligible[cand.long()] = True
    if centre_idx:
        eligible[torch.tensor(centre_idx, device=device)] = False
    b = torch.zeros(n, dtype=torch.float64, device=device)
    if bias is not None:
        if bias.shape != (n,):
            raise ValueError(f"bias must have shape ({n},), got {tuple(bias.shape)}")
        b = bias.to(device=device, dtype=torch.float64)
        if not torch.isfinite(b).all():
            raise ValueError("bias must be finite")
    n_new = min(int(n_new), int(eligible.sum()))
    if n_new <= 0:
        return []

    sq = _squared_norms(features, chunk_rows)  # (N,)
    norm = sq.sqrt()
    # Rounding-error bound on each approximate squared distance to any centre: γ_(D+4)·(||x|| + max||c||)² covers
    # the dot product (any summation order), the final float32 rounding and the float64 assembly; ×2 for margin.
    e2 = 2.0 * (dim + 4) * u * (norm + norm.max()) ** 2  # (N,)

    total = len(centre_idx) + n_new
    centres = torch.empty((total, dim), dtype=dtype, device=device)  # kept upcast: reused by every update
    sq_c = torch.empty(total, dtype=torch.float64, device=device)
    e2_c = torch.empty(total, dtype=torch.float64, device=device)  # e2 of each centre's own row
    n_centres = 0

    def add_centre(i: int) -> None:
        nonlocal n_centres
        centres[n_centres] = features[i]
        sq_c[n_centres] = sq[i]
        e2_c[n_centres] = e2[i]
        n_centres += 1

    for i in centre_idx:
        add_centre(i)

    chosen: list[int] = []
    if n_centres == 0:
        # min over an empty set is +inf for every image: torch.argmax on the dense row picks the lowest index.
        first = int(eligible.nonzero()[0, 0])
        chosen.append(first)
        eligible[first] = False
        add_centre(first)

    m = torch.full((n,), math.inf, dtype=torch.float64, device=device)  # min distance to centres[:seen]
    seen = torch.zeros(n, dtype=torch.int64, device=device)
    nearest = torch.zeros(n, dtype=torch.int64, device=device)  # c(j): the centre attaining m_j
    # Lower bound of min d(p, c(j)) over the centres p added since row j was last brought up to date.
    since = torch.full((n,), math.inf, dtype=torch.float64, device=device)

    def update(rows: Tensor) -> None:
        """Bring m[rows] up to date against every centre each row has not seen yet, in staleness buckets."""
        stale = n_centres - seen[rows]
        # Bucket by ⌈log2(staleness)⌉ so a row is multiplied by at most twice the centres it actually missed.
        bucket = torch.ceil(torch.log2(stale.to(torch.float64))).long()
        for bkt in torch.unique(bucket).tolist():
            grp = rows[bucket == bkt]
            first_centre = n_centres - int(stale[bucket == bkt].max())
            for r0 in range(0, grp.numel(), chunk_rows):
                r = grp[r0 : r0 + chunk_rows]
                x = features[r]  # (r, D) gathered
                best, arg = m[r], nearest[r]
                for c0 in range(first_centre, n_centres, CHUNK_CENTRES):
                    c1 = min(c0 + CHUNK_CENTRES, n_centres)
                    dist = _approx_distances(x, sq[r], centres[c0:c1], sq_c[c0:c1], dtype)  # (r, t)
                    val, idx = dist.min(1)
                    closer = val < best
                    best = torch.where(closer, val, best)
                    arg = torch.where(closer, idx + c0, arg)
                m[r], nearest[r] = best, arg
            seen[grp] = n_centres
            since[grp] = math.inf

    def skip_unaffected() -> None:
        """Triangle inequality: if d(p, c(j)) ≥ 2·m_j for every centre p that row j missed, then d(p, j) ≥
        d(p, c(j)) − d(c(j), j) ≥ m_j, so m_j is unchanged: mark the row up to date without computing anything.
        Rounding margins keep this exact: each approximate distance is off by at most its bound."""
        p = n_centres - 1
        dc = _approx_distances(centres[p : p + 1], sq_c[p : p + 1], centres[:p], sq_c[:p], dtype)[0]  # (p,)
        e2_p = e2_c[p]
        lower = dc - e2_p / torch.maximum(dc, e2_p.sqrt()).clamp_min(torch.finfo(torch.float64).tiny)
        torch.minimum(since, lower[nearest], out=since)
        unaffected = eligible & (since >= 2.0 * (m + _error_bound(e2, m)))
        seen[unaffected] = n_centres
        since[unaffected] = math.inf

    update(eligible.nonzero()[:, 0])  # one pass over the eligible rows against the initial centres

    neg_inf = torch.tensor(-math.inf, dtype=torch.float64, device=device)
    while len(chosen) < n_new:
        batch = FIRST_BATCH
        while True:
            score = m + b
            eps = _error_bound(e2, m)
            fresh = seen == n_centres
            fresh_score = torch.where(fresh & eligible, score, neg_inf)
            best_row = int(fresh_score.argmax())
            if fresh_score[best_row] == -math.inf:
                threshold = neg_inf
            else:
                threshold = fresh_score[best_row] - eps[best_row]
            # A stale row's m is ≥ its true min (minus rounding): it can still win only if its bound reaches here.
            need = eligible & ~fresh & (score + eps >= threshold)
            n_need = int(need.sum())
            if n_need == 0:
                break
            if n_need > batch:
                rows = torch.topk(torch.where(need, score, neg_inf), batch).indices
                batch *= 2
            else:
                rows = need.nonzero()[:, 0]
            update(rows)

        # Every row that could be the true argmax is now fresh; rows within the error bound of the best are near-ties.
        ties = (eligible & (score + eps >= threshold)).nonzero()[:, 0]  # ascending indices
        if ties.numel() == 1:
            pick = int(ties[0])
        else:
            pick = _resolve_ties(ties, features, centres[:n_centres], sq, sq_c[:n_centres], m, eps, b, dtype)
        chosen.append(pick)
        eligible[pick] = False
        add_centre(pick)
        if len(chosen) < n_new:
            skip_unaffected()
    return chosen


def _resolve_ties(
    ties: Tensor,
    features: Tensor,
    centres: Tensor,
    sq: Tensor,
    sq_c: Tensor,
    m: Tensor,
    eps: Tensor,
    b: Tensor,
    dtype: torch.dtype,
) -> int:
    """Exact float64 scores of the near-tied rows (ascending indices); argmax, lowest index on exact ties."""
    exact = torch.empty(ties.numel(), dtype=torch.float64, device=ties.device)
    for k, j in enumerate(ties.tolist()):
        approx = _approx_distances(features[j : j + 1], sq[j : j + 1], centres, sq_c, dtype)[0]  # (t,)
        # The exact minimiser's approximate distance is within 2·eps of the approximate min (see _error_bound).
        near = approx <= m[j] + 2.0 * eps[j] + 1e-12 * m[j]
        exact[k] = _exact_min_distance(features[j], centres[near]) + b[j]
    return int(ties[int(exact.argmax())])
