"""Cityscapes label definitions the service needs without torch: the 19 training classes with their colours
(a project's default classes) and the official labelId → trainId table (for masks sent as `labelIds`).

Values follow cityscapesScripts' `labels.py`. Ids 0..33 exist; everything else is not a Cityscapes labelId.
"""

from __future__ import annotations

import numpy as np

IGNORE = 255

# (train_id, name, colour) of the 19 evaluated classes.
TRAIN_CLASSES: list[tuple[int, str, tuple[int, int, int]]] = [
    (0, "road", (128, 64, 128)),
    (1, "sidewalk", (244, 35, 232)),
    (2, "building", (70, 70, 70)),
    (3, "wall", (102, 102, 156)),
    (4, "fence", (190, 153, 153)),
    (5, "pole", (153, 153, 153)),
    (6, "traffic light", (250, 170, 30)),
    (7, "traffic sign", (220, 220, 0)),
    (8, "vegetation", (107, 142, 35)),
    (9, "terrain", (152, 251, 152)),
    (10, "sky", (70, 130, 180)),
    (11, "person", (220, 20, 60)),
    (12, "rider", (255, 0, 0)),
    (13, "car", (0, 0, 142)),
    (14, "truck", (0, 0, 70)),
    (15, "bus", (0, 60, 100)),
    (16, "train", (0, 80, 100)),
    (17, "motorcycle", (0, 0, 230)),
    (18, "bicycle", (119, 11, 32)),
]

# labelId → trainId for ids 0..33 (unlisted ids of the official table map to ignore).
_LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                   26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
NUM_LABEL_IDS = 34


def label_id_table() -> np.ndarray:
    """(256,) int16: trainId for each labelId 0..33, 255 for ignored ids, -1 for values that are not labelIds."""
    table = np.full(256, -1, dtype=np.int16)
    table[:NUM_LABEL_IDS] = IGNORE
    for label_id, train_id in _LABEL_TO_TRAIN.items():
        table[label_id] = train_id
    return table
