"""One project as one file, to move it into another depthal instance: `depthal project export` / `import`
(docs/operations.md, "Moving one project").

The archive is a zip: `project.json` and the project's stored files under names of the archive's own (never the
source's storage paths):

    project.json                  {"format": "depthal-project", "version": 1, "exported_at", "project",
                                   "sequences", "images", "annotations"}
    images/<id>_<frame><suffix>   an image and its prev/next neighbours (frame t, prev, next)
    sequences/<id>/<file>         every stored frame of an imported video or frame folder, with its index.json
    masks/<image id>_v<version>.png   every mask version (the label is the highest)
    thumbnails/<id>.jpg

It carries what a team cannot make again: the images, the sequences they came from, every mask version with who
stored it and when, a skip's reason, the classes and settings. It leaves what is rebuilt or belongs to the old
instance: rounds, models, scores and pre-labels (the next round retrains), the queue and leases (imported images
are unlabeled, labeled or skipped), members and tokens, the Label Studio link. Images get new ids in the new
instance; `ImportReport.image_ids` maps each archive id to its new one.

Consistency: the rows are read in one transaction and files are never rewritten under a name a row holds (a mask
is a new version, a new file), as for `depthal backup`. The import is all or nothing: files first (flushed to disk),
then one transaction; on any error the rows are rolled back and the files written so far removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import masks, storage
from service.crud.projects import get_project, new_project, palette
from service.db.base import utcnow
from service.db.tables import Annotation, FrameSequence, Image, ImageRole, ImageState, Project, Role, User
from service.errors import Conflict, Invalid
from service.imports import sha256_of
from service.schemas import ProjectCreate

FORMAT, VERSION = "depthal-project", 1
_MANIFEST = "project.json"
# a stored frame's name inside its sequence folder: plain components, no `..`, no absolute part
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")
_FRAMES = {"t": "path", "prev": "prev_path", "next": "next_path"}  # frame → the Image column holding its file
_SEQUENCE_FIELDS = ("source", "name", "checksum", "frame_count", "frame_stride", "pool_every", "pool_images",
                    "width", "height", "intrinsics", "intrinsics_source", "warning")  # fmt: skip


@dataclass
class ImportReport:
    project_id: int
    project: str
    image_ids: dict[int, int] = field(default_factory=dict)  # archive image id → new image id
    sequences: int = 0
    masks: int = 0  # mask versions restored
    labeled: int = 0
    users_created: list[str] = field(default_factory=list)  # annotators unknown here, added inactive


# ------------------------------------------------------------------------------------------------------- export


def export_project(*, session: Session, project_id: int, target: Path) -> dict[str, int]:
    """Write the project's archive to `target` (a new file); returns counts of what it holds. The rows are read in
    one snapshot (PostgreSQL: a REPEATABLE READ transaction; SQLite: one read transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    project = get_project(session=session, project_id=project_id)
    sequences = session.scalars(select(FrameSequence).where(FrameSequence.project_id == project.id)).all()
    images = session.scalars(select(Image).where(Image.project_id == project.id).order_by(Image.id)).all()
    rows = session.execute(
        select(Annotation, User.name)
        .join(Image, Image.id == Annotation.image_id)
        .outerjoin(User, User.id == Annotation.annotator_id)
        .where(Image.project_id == project.id)
        .order_by(Annotation.image_id, Annotation.version)
    ).all()
    frames_of = {s.frames_dir.rstrip("/") + "/": s.id for s in sequences}
    settings = {k: v for k, v in (project.settings or {}).items() if k != "labelstudio"}  # the old instance's link
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": utcnow().isoformat(),
        "project": {
            "name": project.name, "label_budget": project.label_budget, "round_schedule": project.round_schedule,
            "image_height": project.image_height, "image_width": project.image_width, "settings": settings,
            "classes": [{"train_id": c.train_id, "name": c.name, "color": list(c.color)} for c in project.classes],
        },
        "sequences": [{"id": s.id, **{k: getattr(s, k) for k in _SEQUENCE_FIELDS}} for s in sequences],
        "images": [],
        "annotations": [],
    }  # fmt: skip
    with zipfile.ZipFile(target, "x", compression=zipfile.ZIP_STORED) as zf:  # images and PNGs are compressed
        for s in sequences:
            folder = storage.absolute(s.frames_dir)
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                zf.write(path, f"sequences/{s.id}/{path.relative_to(folder).as_posix()}")
        for image in images:
            files: dict[str, str] = {}
            for frame, column in _FRAMES.items():
                stored = getattr(image, column)
                if stored is None:
                    continue
                inside = next((f for f in frames_of if stored.startswith(f)), None)
                if inside is not None:  # a frame of its sequence, archived with the sequence
                    files[frame] = f"sequences/{frames_of[inside]}/{stored[len(inside) :]}"
                else:
                    files[frame] = f"images/{image.id}_{frame}{PurePosixPath(stored).suffix}"
                    zf.write(storage.absolute(stored), files[frame])
            thumbnail = storage.absolute(storage.thumbnail_file(project.id, image.id))
            if thumbnail.is_file():
                files["thumbnail"] = f"thumbnails/{image.id}.jpg"
                zf.write(thumbnail, files["thumbnail"])
            manifest["images"].append({
                "id": image.id, "role": image.role, "name": image.name, "width": image.width,
                "height": image.height, "intrinsics": image.intrinsics, "checksum": image.checksum,
                "state": image.state, "skip_reason": image.skip_reason, "sequence_id": image.sequence_id,
                "created_at": image.created_at.isoformat(), "files": files,
            })  # fmt: skip
        for annotation, annotator in rows:
            name = f"masks/{annotation.image_id}_v{annotation.version}.png"
            zf.write(storage.absolute(annotation.mask_path), name)
            manifest["annotations"].append({
                "image_id": annotation.image_id, "version": annotation.version, "annotator": annotator,
                "created_at": annotation.created_at.isoformat(), "checksum": annotation.checksum, "file": name,
            })  # fmt: skip
        zf.writestr(_MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
    return {"images": len(images), "sequences": len(sequences), "masks": len(rows)}


# ------------------------------------------------------------------------------------------------------- import


def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    """The archive's manifest, checked for format and version; Invalid names what is wrong."""
    try:
        manifest = json.loads(archive.read(_MANIFEST))
    except KeyError:
        raise Invalid(f"not a depthal project archive: it has no {_MANIFEST}") from None
    except ValueError as err:
        raise Invalid(f"{_MANIFEST} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise Invalid(f'not a depthal project archive: {_MANIFEST} has no "format": "{FORMAT}"')
    if manifest.get("version") != VERSION:
        raise Invalid(f"archive version {manifest.get('version')!r} is not one this release reads ({VERSION})")
    return manifest


def import_project(*, session: Session, source: Path, name: str | None = None) -> ImportReport:
    """Create a new project from the archive at `source` (named `name`, else as in the archive); all or nothing."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as err:
        raise Invalid(f"{source.name} is not a readable zip file: {err}") from err
    written: list[Path] = []
    with archive:
        manifest = read_manifest(archive)
        try:
            body = {**manifest["project"], **({"name": name} if name else {})}
            project = new_project(session=session, project_in=ProjectCreate.model_validate(body))
            session.add(project)
            session.flush()
            report = ImportReport(project_id=project.id, project=project.name)
            _Restore(session, archive, project, report, written).run(manifest)
            # the files reach the disk before the rows that name them commit (masks are hours of work; the mask
            # route fsyncs each one): one flush of every written file instead of one per file
            os.sync()
            session.commit()
        except ValidationError as err:
            session.rollback()
            raise Invalid(f"the archive's project is not valid here: {err.errors()[0]['msg']}") from err
        except (KeyError, TypeError, ValueError) as err:  # a field missing, of the wrong type, or out of range
            session.rollback()
            _remove(written)
            raise Invalid(f"{_MANIFEST} lacks or misstates {err}") from err
        except IntegrityError as err:  # the name was taken meanwhile, or a value the tables' checks refuse
            session.rollback()
            _remove(written)
            raise Conflict(f"the archive does not fit this instance: {err.orig}") from err
        except BaseException:
            session.rollback()
            _remove(written)
            raise
    return report


def _remove(written: list[Path]) -> None:
    for path in written:
        path.unlink(missing_ok=True)


@dataclass
class _Restore:
    session: Session
    archive: zipfile.ZipFile
    project: Project
    report: ImportReport
    written: list[Path]
    frames_dirs: dict[int, str] = field(default_factory=dict)  # archive sequence id → new frames_dir

    def run(self, manifest: dict[str, Any]) -> None:
        sequence_ids = {s["id"]: self._sequence(s) for s in manifest["sequences"]}
        labeled = {a["image_id"] for a in manifest["annotations"]}
        images: dict[int, Image] = {}
        for entry in manifest["images"]:
            images[entry["id"]] = self._image(entry, sequence_ids, entry["id"] in labeled)
        users = self._annotators({a["annotator"] for a in manifest["annotations"] if a["annotator"]})
        class_ids, colors = palette(self.project)
        for entry in manifest["annotations"]:
            image = images.get(entry["image_id"])
            if image is None:
                raise Invalid(f"mask {entry['file']} belongs to image {entry['image_id']}, which the archive lacks")
            relative = storage.mask_file(self.project.id, image.id, entry["version"])
            data = self.archive.read(entry["file"])
            ids = masks.decode_mask(data, width=image.width, height=image.height, class_ids=class_ids, colors=colors,
                                    fmt=masks.MaskFormat.TRAIN_IDS)  # fmt: skip
            if masks.checksum(ids) != entry["checksum"]:
                raise Invalid(f"{entry['file']} does not match its checksum: the archive is damaged")
            self._write(relative, masks.encode_png(ids))  # re-encoded pixels, as every stored mask (no chunks)
            self.session.add(Annotation(
                image_id=image.id, annotator_id=users.get(entry["annotator"]), version=entry["version"],
                mask_path=relative.as_posix(), checksum=entry["checksum"],
                created_at=datetime.fromisoformat(entry["created_at"]),
            ))  # fmt: skip
        self.report.masks = len(manifest["annotations"])
        self.report.labeled = len(labeled)
        self.session.flush()

    def _sequence(self, entry: dict[str, Any]) -> int:
        row = FrameSequence(project_id=self.project.id, frames_dir="", **{k: entry[k] for k in _SEQUENCE_FIELDS})
        self.session.add(row)
        self.session.flush()
        folder = storage.archived_frames_dir(self.project.id, row.id)
        prefix = f"sequences/{entry['id']}/"
        for member in self.archive.namelist():
            if member.startswith(prefix) and not member.endswith("/"):
                self._extract(member, folder / _safe(member[len(prefix) :]))
        row.frames_dir = folder.as_posix()
        self.frames_dirs[entry["id"]] = row.frames_dir
        self.report.sequences += 1
        return row.id

    def _image(self, entry: dict[str, Any], sequence_ids: dict[int, int], labeled: bool) -> Image:
        if labeled:
            state = ImageState.LABELED
        elif entry["state"] == ImageState.SKIPPED:
            state = ImageState.SKIPPED
        else:  # queued or leased there: the queue is the old instance's
            state = ImageState.UNLABELED
        image = Image(
            project_id=self.project.id, role=ImageRole(entry["role"]), name=entry["name"], path="",
            width=entry["width"], height=entry["height"], intrinsics=entry["intrinsics"], checksum=entry["checksum"],
            state=state,
            skip_reason=entry["skip_reason"] if state == ImageState.SKIPPED else None,
            sequence_id=sequence_ids.get(entry["sequence_id"]), created_at=datetime.fromisoformat(entry["created_at"]),
        )  # fmt: skip
        self.session.add(image)
        self.session.flush()  # the id names its files
        for frame, member in entry["files"].items():
            if member.startswith("sequences/"):  # already extracted with its sequence
                seq, _, rest = member[len("sequences/") :].partition("/")
                stored = f"{self.frames_dirs[int(seq)]}/{_safe(rest)}"
            elif frame == "thumbnail":
                stored = self._extract(member, storage.thumbnail_file(self.project.id, image.id)).as_posix()
            else:
                relative = storage.image_file(self.project.id, image.id, PurePosixPath(member).suffix, frame)
                stored = self._extract(member, relative).as_posix()
            if frame in _FRAMES:
                setattr(image, _FRAMES[frame], stored)
        if sha256_of(storage.absolute(image.path)) != image.checksum:
            raise Invalid(f"image {entry['id']} ({entry['name']}) does not match its checksum: the archive is damaged")
        self.report.image_ids[entry["id"]] = image.id
        return image

    def _annotators(self, names: set[str]) -> dict[str, int]:
        """Annotators by name; one unknown here is added as an inactive annotator (no token, cannot sign in) so
        the history keeps who drew each version; an admin may activate them."""
        rows = self.session.execute(select(User.name, User.id).where(User.name.in_(names))).all()
        known: dict[str, int] = {row.name: row.id for row in rows}
        for name in sorted(names - set(known)):
            user = User(name=name, role=Role.ANNOTATOR, is_active=False)
            self.session.add(user)
            self.session.flush()
            known[name] = user.id
            self.report.users_created.append(name)
        return known

    def _extract(self, member: str, relative: Path) -> Path:
        target = storage.absolute(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            source = self.archive.open(member)
        except KeyError:
            raise Invalid(f"the archive lacks {member}, which {_MANIFEST} names") from None
        with source, open(target, "xb") as out:
            self.written.append(target)
            shutil.copyfileobj(source, out, 1 << 20)
        return relative

    def _write(self, relative: Path, data: bytes) -> None:
        target = storage.absolute(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:
            self.written.append(target)
            out.write(data)


def _safe(name: str) -> str:
    if not _SAFE_NAME.match(name) or ".." in name.split("/"):
        raise Invalid(f"the archive names a frame file {name!r}, which is not a plain relative name")
    return name
