"""The torch side of a round: one pipeline per stage job, a thin join of rows to `models.rounds`.

Every stage reads the round's frozen pool (`plan.PoolSnapshot`), builds `FrameRecord`s from image rows (stored masks
are train-id PNGs), works through the library with the job's progress callback, and writes its results in its
finishing transaction (the job is marked succeeded in the same commit, so a redelivered task never writes twice).
Files live in storage: checkpoints under `model_dir`, per-round arrays under `round_dir`. Bad input (too few
images, an unreadable image, a GPU-only setting without a GPU) becomes a `PipelineError` whose message names the
problem; only the queue stage (worker/round/queue.py) touches the queue, so a failed round leaves it as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sqlalchemy import select

from contracts.camera import FX_PER_WIDTH  # the default focal length per width of an image without intrinsics
from contracts.cityscapes import DataError, FrameRecord
from contracts.settings import ProjectSettings
from models.data.frame_store import triplets
from models.device import resolve_device
from models.features import load_features
from models.prelabel import write_prelabels
from models.rounds.config import RoundConfig, RoundInputError
from models.rounds.pretrain import pretrain_depth as pretrain
from models.rounds.score import create_raw_features, feature_dim, score_range, standardise_features
from models.rounds.select import select as choose
from models.rounds.train import train_segmentation_model, train_student
from models.superpixels import write_segments
from service import storage
from service.db.session import session_scope
from service.db.tables import (
    FrameSequence,
    Image,
    Job,
    JobKind,
    LabelClass,
    ModelKind,
    ModelVersion,
    Project,
    Round,
    Score,
)
from worker.round.plan import PoolSnapshot, latest_model
from worker.runner import JobContext, PipelineError


@dataclass
class Stage:
    """What every stage of one round needs."""

    project_id: int
    round_id: int
    round_index: int
    batch_size: int
    cfg: Any  # models.rounds.config.RoundConfig
    device: Any  # torch.device
    snap: PoolSnapshot
    images: dict[int, Image]  # detached rows of the pool and val images
    palette: np.ndarray

    def path(self, relative: Path) -> Path:
        return storage.absolute(relative)

    @property
    def work(self) -> Path:
        folder = self.path(storage.round_dir(self.project_id, self.round_index))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def record(self, image_id: int, mask: str | None = None) -> FrameRecord:
        img = self.images[image_id]
        k = img.intrinsics or {}
        f = FX_PER_WIDTH * img.width
        K = np.array([[k.get("fx", f), 0.0, k.get("u0", (img.width - 1) / 2)],
                      [0.0, k.get("fy", f), k.get("v0", (img.height - 1) / 2)], [0.0, 0.0, 1.0]])  # fmt: skip
        return FrameRecord(
            image=self.path(img.path), prev=self.path(img.prev_path) if img.prev_path else None,
            next=self.path(img.next_path) if img.next_path else None, label=self.path(mask) if mask else None,
            K=K, split=img.role, city="project", name=f"{image_id:08d}", label_format="train_ids",
        )  # fmt: skip

    def labeled(self) -> list[FrameRecord]:
        return [self.record(i, m) for i, m in self.snap.labeled]

    def unlabeled(self) -> list[FrameRecord]:
        """Pending (queued by an earlier round) and unlabeled pool images: the pool without the labeled ones."""
        return [self.record(i) for i in (*self.snap.pending, *self.snap.unlabeled)]

    def val(self) -> list[FrameRecord]:
        return [self.record(i, m) for i, m in self.snap.val]

    def depth_checkpoint(self) -> Path:
        with session_scope() as session:
            version = latest_model(session, self.project_id, ModelKind.DEPTH)
            if version is None:
                raise PipelineError("the project has no depth model; the round's pretrain_depth stage did not run")
            return self.path(version.checkpoint_path)

    @property
    def seg_relative(self) -> Path:
        return storage.model_dir(self.project_id) / f"seg_r{self.round_index:03d}.pt"

    def seg_checkpoint(self) -> Path | None:
        return self.path(self.seg_relative) if self.snap.labeled else None

    def student_checkpoint(self) -> Path | None:
        return self.work / "student.pt" if self.snap.labeled and self.cfg.needs_difficulty else None


def load_stage(ctx: JobContext) -> Stage:
    """Rows → a `Stage`; the project's settings → the round's configuration (a bad setting is a PipelineError)."""
    if ctx.round_id is None:
        raise PipelineError(f"job {ctx.job_id} belongs to no round")
    with session_scope() as session:
        round_ = session.get(Round, ctx.round_id)
        project = session.get(Project, ctx.project_id)
        assert round_ is not None and project is not None
        snap = PoolSnapshot.load(project.id, round_.index)
        ids = [*snap.pool_ids, *(i for i, _ in snap.val)]
        images = {img.id: img for img in session.scalars(select(Image).where(Image.id.in_(ids)))}
        for img in images.values():
            session.expunge(img)
        classes = session.execute(select(LabelClass.train_id, LabelClass.color).where(
            LabelClass.project_id == project.id)).all()  # fmt: skip
        stored, strategy = project.settings or {}, round_.strategy
        size, index, batch = (project.image_height, project.image_width), round_.index, round_.batch_size
    palette = np.zeros((256, 3), dtype=np.uint8)
    for train_id, color in classes:
        palette[train_id] = color
    num_classes = max((t for t, _ in classes), default=18) + 1
    try:
        settings = ProjectSettings.model_validate({**stored, "strategy": strategy})
        cfg = RoundConfig.from_settings(settings, size=size, num_classes=num_classes)
        device = resolve_device(cfg.device)
    except ValueError as err:  # a pydantic ValidationError, a DeviceUnavailable
        raise PipelineError(f"the project's settings cannot run: {err}") from None
    torch.manual_seed(cfg.seed)
    return Stage(ctx.project_id, ctx.round_id, index, batch, cfg, device, snap, images, palette)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's input errors (and unreadable files) into PipelineErrors: a clear job error."""
    try:
        yield
    except (RoundInputError, DataError) as err:
        raise PipelineError(str(err)) from None


def depth_triplets(st: Stage) -> tuple[list[FrameRecord], dict[str, int]]:
    """What depth learns from (method.md §2: every frame of the sequences, not only the annotated ones): every
    stored frame triplet (t-1, t, t+1) of the project's imported sequences, then the pool images with both
    neighbours that belong to no sequence (uploaded triplets, Cityscapes imports). A pool image sampled from a
    sequence is one of its triplets already. Returns (records, counts for the job's result)."""
    with session_scope() as session:
        sequences = session.execute(select(FrameSequence.id, FrameSequence.frames_dir, FrameSequence.frame_count,
                                           FrameSequence.intrinsics)
                                    .where(FrameSequence.project_id == st.project_id)
                                    .order_by(FrameSequence.id)).all()  # fmt: skip
    records = []
    for seq_id, folder, count, k in sequences:
        K = np.array([[k["fx"], 0.0, k["u0"]], [0.0, k["fy"], k["v0"]], [0.0, 0.0, 1.0]])  # pixels of stored frames
        records += [FrameRecord(image=t, prev=prev, next=nxt, label=None, K=K, split="train", city=f"seq{seq_id}",
                                name=t.stem) for prev, t, nxt in triplets(st.path(folder), count)]  # fmt: skip
    from_sequences = len(records)
    records += [r for i in st.snap.pool_ids if st.images[i].sequence_id is None
                and (r := st.record(i)).prev is not None and r.next is not None]  # fmt: skip
    counts = {"triplets": len(records), "sequence_triplets": from_sequences, "sequences": len(sequences),
              "pool_triplets": len(records) - from_sequences}  # fmt: skip
    return records, counts


def pretrain_depth(ctx: JobContext) -> dict[str, Any]:
    """Self-supervised depth pretraining on every frame triplet of the project; records the depth model version."""
    st = load_stage(ctx)
    relative = storage.model_dir(st.project_id) / f"depth_r{st.round_index:03d}.pt"
    records, counts = depth_triplets(st)
    ctx.progress("pretrain_depth", 0.0, f"{counts['triplets']} triplets ({counts['sequence_triplets']} from "
                 f"{counts['sequences']} sequences, {counts['pool_triplets']} pool images)")  # fmt: skip
    with user_errors():
        pretrain(st.cfg, records, st.path(relative), device=st.device, progress=ctx.progress)
    with ctx.finishing() as session:
        version = ModelVersion(project_id=st.project_id, kind=ModelKind.DEPTH, checkpoint_path=str(relative),
                               config=asdict(st.cfg.depth), metrics=counts, round_id=st.round_id)  # fmt: skip
        session.add(version)
        session.flush()
        ctx.result = {"model_version_id": version.id, "checkpoint": str(relative), **counts}
    return ctx.result


def train(ctx: JobContext) -> dict[str, Any]:
    """Segmentation student (semi-supervised, mIoU on val) and, for difficulty strategies, the difficulty student."""
    st = load_stage(ctx)
    depth = st.depth_checkpoint()
    seg = st.seg_checkpoint()
    assert seg is not None
    labeled = st.labeled()
    with user_errors():
        outcome = train_segmentation_model(st.cfg, labeled, st.unlabeled(), st.val(), depth, seg, device=st.device,
                                           progress=ctx.progress)  # fmt: skip
        student = st.student_checkpoint()
        if student is not None:
            train_student(st.cfg, labeled, depth, student, step=st.round_index, device=st.device, progress=ctx.progress)
    miou = outcome.miou if np.isfinite(outcome.miou) else None
    metrics = {"miou": miou, "per_class_iou": [x if np.isfinite(x) else None for x in outcome.per_class],
               "labels_used": len(labeled), "val_images": len(st.snap.val)}  # fmt: skip
    with ctx.finishing() as session:
        version = ModelVersion(project_id=st.project_id, kind=ModelKind.SEGMENTATION,
                               checkpoint_path=str(st.seg_relative),
                               config=json.loads(json.dumps(asdict(st.cfg.seg))), metrics=metrics,
                               round_id=st.round_id)  # fmt: skip
        session.add(version)
        session.flush()
        round_ = session.get(Round, st.round_id, with_for_update=True)
        assert round_ is not None
        round_.model_version_id = version.id
        round_.metrics = {**(round_.metrics or {}), **metrics}
        ctx.result = {"model_version_id": version.id, **metrics}
    return ctx.result


def score(ctx: JobContext) -> dict[str, Any]:
    """One shard of pool scoring: raw features into the round's shared file, difficulty and entropy to an .npz."""
    st = load_stage(ctx)
    start, end, shard = int(ctx.params["start"]), int(ctx.params["end"]), int(ctx.params["shard"])
    depth = st.depth_checkpoint()
    raw = st.work / "features.raw.npy"
    pool = [*st.labeled(), *st.unlabeled()]
    # The first shard to get here makes the file; a shard's rows are its own, so shards never overwrite each other.
    with session_scope() as session:
        session.get(Round, st.round_id, with_for_update=True)  # serialises the creation between shard workers
        if not raw.exists():
            create_raw_features(raw, len(pool), feature_dim(depth))
    with user_errors():
        scores = score_range(st.cfg, pool, start, end, depth, raw, student_checkpoint=st.student_checkpoint(),
                             seg_checkpoint=st.seg_checkpoint(), device=st.device, progress=ctx.progress)  # fmt: skip
    np.savez(st.work / f"scores_{shard:04d}.npz", difficulty=scores.difficulty, entropy=scores.entropy)
    return {"shard": shard, "images": end - start}


def select_batch(ctx: JobContext) -> dict[str, Any]:
    """Standardise the features, choose the batch by strategy, write `score` rows (the reasons)."""
    st = load_stage(ctx)
    ctx.progress("select", 0.0, "standardising features")
    features = load_features(standardise_features(st.work / "features.raw.npy", st.work / "features.npy"))
    with session_scope() as session:
        shard_jobs = session.scalars(select(Job.id).where(Job.round_id == st.round_id, Job.kind == JobKind.SCORE))
        n_shards = len(shard_jobs.all())
    parts = [np.load(st.work / f"scores_{k:04d}.npz") for k in range(n_shards)]
    difficulty = np.concatenate([p["difficulty"] for p in parts])
    entropy = np.concatenate([p["entropy"] for p in parts])
    n_lab = st.snap.n_centres  # labeled and pending images: centres, never candidates
    ctx.progress("select", 0.5, f"{st.cfg.strategy}: {st.batch_size} of {len(st.snap.unlabeled)}")
    with user_errors():
        picks = choose(st.cfg.strategy, n_lab, st.batch_size, st.cfg.seed + st.round_index, features=features,
                       difficulty=difficulty if np.isfinite(difficulty[n_lab:]).all() else None,
                       entropy=entropy if np.isfinite(entropy[n_lab:]).all() else None,
                       difficulty_weight=st.cfg.difficulty_weight)  # fmt: skip
    pool_ids = st.snap.pool_ids
    chosen = [pool_ids[p.index] for p in picks]
    by_image = {pool_ids[p.index]: p for p in picks}
    with ctx.finishing() as session:
        for j in range(n_lab, len(pool_ids)):
            pick = by_image.get(pool_ids[j])
            session.add(Score(
                round_id=st.round_id, image_id=pool_ids[j], diversity=pick.distance if pick else None,
                difficulty=float(difficulty[j]) if np.isfinite(difficulty[j]) else None,
                entropy=float(entropy[j]) if np.isfinite(entropy[j]) else None,
                combined=pick.combined if pick else None, rank=pick.rank if pick else None,
            ))  # fmt: skip
        ctx.result = {"strategy": st.cfg.strategy, "chosen": chosen, "pool_unlabeled": len(st.snap.unlabeled)}
    return ctx.result


def predict(ctx: JobContext) -> dict[str, Any]:
    """What annotators start from, for each chosen image: superpixels for the web app's click-fill, from the image
    and the depth model (docs/web.md), and, once a segmentation model exists, the pre-label (class-id PNG + overlay).
    The queue stage attaches them to the images as it queues them."""
    st = load_stage(ctx)
    chosen = chosen_images(st.round_id)
    files = [st.path(st.images[i].path) for i in chosen]
    segments = [storage.segments_file(st.project_id, i, st.round_index) for i in chosen]
    ids_rel = [storage.prelabel_file(st.project_id, i, st.round_index) for i in chosen]
    rgb_rel = [storage.prelabel_overlay_file(st.project_id, i, st.round_index) for i in chosen]
    seg = st.seg_checkpoint()
    with user_errors():
        write_segments(st.depth_checkpoint(), files, [st.path(p) for p in segments], size=st.cfg.size,
                       device=st.device, progress=ctx.progress)  # fmt: skip
        if seg is not None:
            write_prelabels(seg, files, [st.path(p) for p in ids_rel], [st.path(p) for p in rgb_rel],
                            size=st.cfg.size, device=st.device, palette=st.palette, progress=ctx.progress)  # fmt: skip
    prelabels = {str(i): str(p) for i, p in zip(chosen, ids_rel, strict=True)} if seg is not None else {}
    return {"segments": {str(i): str(p) for i, p in zip(chosen, segments, strict=True)}, "prelabels": prelabels}


def chosen_images(round_id: int) -> list[int]:
    """The round's batch in pick order, as its select stage chose it."""
    with session_scope() as session:
        result = session.scalar(select(Job.result).where(Job.round_id == round_id, Job.kind == JobKind.SELECT))
    return [int(i) for i in (result or {})["chosen"]]
