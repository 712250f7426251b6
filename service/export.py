"""Labels of a project as a zip in Cityscapes' gtFine layout, with a manifest:

- `gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png`: train ids, 255 = ignore (what mmsegmentation reads);
- `..._gtFine_labelIds.png`: Cityscapes label ids (what cityscapesscripts' evaluation reads), only when the project's
  classes are Cityscapes' 19 (other classes have no label ids);
- `..._gtFine_color.png`: the project's class colours;
- `manifest.json`: per image its id, name, split, mask version, annotator, time and files in the zip.

Split: pool images → train, val images → val. Images whose name is a plain Cityscapes name keep its city and stem
(`aachen_000000_000019`); other images go under the city `depthal` with their file name's stem (unsafe characters
replaced) and id. Every path is confined to `gtFine/` (no `..`, no backslash, no absolute part) and unique: a second
image with the same Cityscapes name gets its id appended (issue 19: two images of one name wrote one path twice,
and a name like `.._000000_000019_leftImg8bit.png` escaped its folder). The zip is written to a spooled temporary
file (memory bounded), then streamed.
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from pathlib import PurePosixPath
from typing import IO, Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.cityscapes import CITYSCAPES_CLASSES, train_ids_to_label_ids
from service import masks, storage
from service.crud.annotations import newest_versions
from service.crud.projects import palette
from service.db.tables import Annotation, Image, ImageRole, Project, User

# A city is letters, digits and dashes (Cityscapes' are lowercase words, some with a dash): nothing that is a path.
_CITYSCAPES = re.compile(r"^(?P<city>[A-Za-z0-9][A-Za-z0-9-]*)_(?P<seq>\d{6})_(?P<frame>\d{6})_leftImg8bit\.(png|jpg)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _place(image: Image) -> tuple[str, str]:
    """(city, stem) of an image's label files; both are single safe path components."""
    match = _CITYSCAPES.match(image.name)
    if match:
        return match["city"], f"{match['city']}_{match['seq']}_{match['frame']}"
    stem = _UNSAFE.sub("_", PurePosixPath(image.name.replace("\\", "/")).stem).strip(".") or "image"
    return "depthal", f"{stem}_{image.id:06d}"


def _is_cityscapes(project: Project) -> bool:
    classes = [(c.name, tuple(c.color)) for c in sorted(project.classes, key=lambda c: c.train_id)]
    return classes == [(name, tuple(color)) for name, color in CITYSCAPES_CLASSES]


def build_zip(*, session: Session, project: Project) -> tuple[IO[bytes], int]:
    """The export zip, rewound, and how many labeled images it holds."""
    newest = newest_versions(project.id)
    rows = session.execute(
        select(Image, Annotation, User.name)
        .join(newest, newest.c.image_id == Image.id)
        .join(Annotation, (Annotation.image_id == newest.c.image_id) & (Annotation.version == newest.c.version))
        .outerjoin(User, User.id == Annotation.annotator_id)
        .order_by(Image.id)
    ).all()
    class_ids, colors = palette(project)
    label_ids = _is_cityscapes(project)
    used: set[str] = set()
    manifest: list[dict[str, Any]] = []
    out = tempfile.SpooledTemporaryFile(max_size=16 << 20)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for image, annotation, annotator in rows:
            city, stem = _place(image)
            split = "val" if image.role == ImageRole.VAL else "train"
            if f"{split}/{city}/{stem}" in used:
                stem = f"{stem}_{image.id:06d}"  # the same name twice: the later image is told apart by its id
            used.add(f"{split}/{city}/{stem}")
            base = f"gtFine/{split}/{city}/{stem}_gtFine_"
            with PILImage.open(storage.absolute(annotation.mask_path)) as png:
                ids = np.asarray(png)  # (H, W) uint8 train ids
            files = {"labelTrainIds": base + "labelTrainIds.png", "color": base + "color.png"}
            zf.writestr(files["labelTrainIds"], masks.encode_png(ids))
            zf.writestr(files["color"], masks.encode_png(masks.colorize(ids, class_ids, colors)))
            if label_ids:
                files["labelIds"] = base + "labelIds.png"
                zf.writestr(files["labelIds"], masks.encode_png(train_ids_to_label_ids(ids)))
            manifest.append(
                {
                    "image_id": image.id,
                    "name": image.name,
                    "split": split,
                    "version": annotation.version,
                    "annotator_id": annotation.annotator_id,
                    "annotator": annotator,
                    "created_at": annotation.created_at.isoformat(),
                    "files": files,
                }
            )
        body = {"project_id": project.id, "project": project.name, "label_ids": label_ids, "images": manifest}
        zf.writestr("manifest.json", json.dumps(body, indent=1, ensure_ascii=False))
    out.seek(0)
    return out, len(rows)
