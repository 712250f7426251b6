"""Labels of a project as a zip in Cityscapes' gtFine layout:
`gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png` (train ids, 255 = ignore) and `..._gtFine_color.png`.

Split: pool images → train, val images → val. Images imported from a Cityscapes tree keep their city and stem
(`aachen_000000_000019`); other images go under the city `depthal` with their file name's stem and id.
The zip is written to a spooled temporary file (memory bounded), then streamed.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import PurePosixPath
from typing import IO

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import masks, storage
from service.crud.annotations import newest_versions
from service.crud.projects import palette
from service.db.tables import Annotation, Image, ImageRole, Project

_CITYSCAPES = re.compile(r"^(?P<city>[^/]+)_(?P<seq>\d{6})_(?P<frame>\d{6})_leftImg8bit\.(png|jpg)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _place(image: Image) -> tuple[str, str]:
    """(city, stem) of an image's label files."""
    match = _CITYSCAPES.match(image.name)
    if match:
        return match["city"], image.name.rsplit("_leftImg8bit", 1)[0]
    stem = _UNSAFE.sub("_", PurePosixPath(image.name).stem) or "image"
    return "depthal", f"{stem}_{image.id:06d}"


def build_zip(*, session: Session, project: Project) -> tuple[IO[bytes], int]:
    """The export zip, rewound, and how many labeled images it holds."""
    newest = newest_versions(project.id)
    rows = session.execute(
        select(Image, Annotation.mask_path)
        .join(newest, newest.c.image_id == Image.id)
        .join(Annotation, (Annotation.image_id == newest.c.image_id) & (Annotation.version == newest.c.version))
        .order_by(Image.id)
    ).all()
    class_ids, colors = palette(project)
    out = tempfile.SpooledTemporaryFile(max_size=16 << 20)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for image, mask_path in rows:
            city, stem = _place(image)
            split = "val" if image.role == ImageRole.VAL else "train"
            base = f"gtFine/{split}/{city}/{stem}_gtFine_"
            path = storage.absolute(mask_path)
            zf.write(path, base + "labelTrainIds.png")
            with PILImage.open(path) as ids:
                zf.writestr(base + "color.png", masks.encode_png(masks.colorize(np.asarray(ids), class_ids, colors)))
    out.seek(0)
    return out, len(rows)
