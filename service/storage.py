"""Where files live under the storage directory. Path helpers only: the database stores paths relative to the
storage root, so the root can move (a shared volume in compose)."""

from __future__ import annotations

from pathlib import Path

from service.config import get_settings


def root() -> Path:
    path = get_settings().storage_dir
    assert path is not None
    return path


def absolute(relative: str | Path) -> Path:
    """Resolve a stored relative path; refuses anything that escapes the storage root."""
    base = root().resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"stored path escapes the storage root: {relative}")
    return path


def project_dir(project_id: int) -> Path:
    return Path("projects") / str(project_id)


def image_file(project_id: int, image_id: int, suffix: str, frame: str = "t") -> Path:
    """frame: "t" for the image itself, "prev"/"next" for its sequence neighbours."""
    return project_dir(project_id) / "images" / f"{image_id:08d}_{frame}{suffix}"


def import_frames_dir(project_id: int, job_id: int) -> Path:
    """Everything an import job writes: one folder per sequence below it (`sequence_frames_dir`)."""
    return project_dir(project_id) / "frames" / f"job{job_id:08d}"


def sequence_frames_dir(project_id: int, job_id: int, k: int) -> Path:
    """The stored frames of the k-th sequence of an import job: `000000.jpg, ...` + `index.json`
    (models/data/frame_store.py). Pool images of the sequence point at these files (no copies)."""
    return import_frames_dir(project_id, job_id) / f"{k:04d}"


def archived_frames_dir(project_id: int, sequence_id: int) -> Path:
    """The frames of a sequence that came in a project archive (service/project_archive.py), not from an import job."""
    return project_dir(project_id) / "frames" / f"seq{sequence_id:08d}"


def mask_file(project_id: int, image_id: int, version: int) -> Path:
    return project_dir(project_id) / "masks" / f"{image_id:08d}_v{version:03d}.png"


def thumbnail_file(project_id: int, image_id: int) -> Path:
    return project_dir(project_id) / "thumbnails" / f"{image_id:08d}.jpg"


def prelabel_file(project_id: int, image_id: int, round_index: int) -> Path:
    return project_dir(project_id) / "prelabels" / f"r{round_index:03d}" / f"{image_id:08d}.png"


def prelabel_overlay_file(project_id: int, image_id: int, round_index: int) -> Path:
    """The colour overlay (image blended with the predicted classes) next to the class-id pre-label."""
    return project_dir(project_id) / "prelabels" / f"r{round_index:03d}" / f"{image_id:08d}_overlay.png"


def overlay_of(prelabel_path: str | Path) -> Path:
    """The overlay stored next to a class-id pre-label (see `prelabel_overlay_file`)."""
    path = Path(prelabel_path)
    return path.with_name(f"{path.stem}_overlay.png")


def segments_file(project_id: int, image_id: int, round_index: int) -> Path:
    """The superpixel segment ids of an image the round queued, beside its pre-label: an RGB PNG, id = R + 256·G
    (models/superpixels.py)."""
    return project_dir(project_id) / "prelabels" / f"r{round_index:03d}" / f"{image_id:08d}_segments.png"


def model_dir(project_id: int) -> Path:
    return project_dir(project_id) / "models"


def round_dir(project_id: int, round_index: int) -> Path:
    """Per-round arrays (diversity features, difficulty) live here, not in database rows."""
    return project_dir(project_id) / "rounds" / f"r{round_index:03d}"
