"""One active-learning round as plain functions over records (docs/design.md "The active-learning round",
method.md §2–§4), one module per stage. The worker's stage jobs call them one by one (`worker/round/stages.py`);
`loop.run_round` calls them in one process for the benchmarks.

Inputs are `contracts.cityscapes.FrameRecord`s: labeled pool images carry `label` (`label_format="train_ids"` for
the service's stored masks), unlabeled ones do not; val images carry labels. The *pool* of a round is
`labeled + unlabeled` in that order, so pool index i < len(labeled) is labeled.

- `config`: `RoundConfig.from_settings` (project settings → configurations), `RoundInputError`.
- `pretrain`: self-supervised depth (§2) when the project has no depth model yet.
- `train`: the segmentation model (transfer, mean teacher, DepthMix, §3) with mIoU on val; the difficulty student.
- `score`: a teacher pass over a slice of the pool → raw features, difficulty, entropy; per-channel standardising.
- `select`: the strategy by name, with each pick's reason. Pre-labels: `models.prelabel.write_prelabels`.

Every stage resumes from its own checkpoint file and reports progress(stage, fraction, message). Cold start (no
labels): no segmentation model, no student; diversity strategies pick π_s[0], then farthest points.
"""
