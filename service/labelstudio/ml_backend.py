"""Label Studio's ML-backend protocol served by depthal, per project at `/labelstudio/ml/{project_id}`: `GET /health`,
`POST /setup`, `POST /predict` (the newest pre-label of each task's image, so a task opened or refreshed in the
editor shows what the latest round predicted) and `POST /webhook` (`START_TRAINING`, Label Studio's "Start
training" button, starts a depthal round). Label Studio authenticates with HTTP basic auth: user `depthal`, the
password derived from DEPTHAL_SECRET_KEY (signing.ml_password), which the link registers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import masks, storage
from service.db.tables import Image, Project, Round
from service.labelstudio.labels import prediction_results
from service.start_round import start_and_send

MODEL_CLASS = "depthal"


def model_version(session: Session, project_id: int) -> str:
    """`round-<index>` of the project's newest round that finished, or `depthal` before any."""
    index = session.scalar(
        select(Round.index)
        .where(Round.project_id == project_id, Round.status == "succeeded")
        .order_by(Round.index.desc())
        .limit(1)
    )
    return f"round-{index}" if index is not None else MODEL_CLASS


def predict(session: Session, *, project: Project, tasks: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One result per task, in order: the brush regions of its image's newest pre-label (none: an empty result),
    all under the current model version (Label Studio asks again only for tasks without a prediction of it)."""
    classes = {c.train_id: c.name for c in project.classes}
    version = model_version(session, project.id)
    results = []
    for task in tasks:
        image_id = (task.get("data") or {}).get("depthal_image")
        image = session.get(Image, image_id) if isinstance(image_id, int) else None
        if image is None or image.project_id != project.id or image.prelabel_path is None:
            results.append({"result": [], "model_version": version})
            continue
        ids = np.asarray(masks.open_png(storage.absolute(image.prelabel_path).read_bytes(), what="pre-label"))
        results.append({"result": prediction_results(ids, classes), "model_version": version})
    return {"results": results}


def webhook(session: Session, *, project: Project, body: Mapping[str, Any]) -> dict[str, Any]:
    """`START_TRAINING` starts the project's next round (its refusals, e.g. a round already running, are 4xx);
    other actions are acknowledged and ignored."""
    action = body.get("action")
    if action != "START_TRAINING":
        return {"status": "ignored", "action": action}
    round_ = start_and_send(session=session, project=project, batch_size=None, strategy=None)
    return {"status": "started", "round": round_.index, "round_id": round_.id}
