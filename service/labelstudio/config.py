"""The Label Studio labelling config of a depthal project: one image, one BrushLabels tag, one label per class.

Each `<Label>` carries the class's name (what annotators see and what results name) and its colour; depthal reads
the class back from the name. A linked Label Studio project must have exactly these labels under these tag names,
else the link is refused naming the difference (`check`).
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

from service.errors import Invalid

FROM_NAME = "label"  # the BrushLabels tag's name: results carry it as `from_name`
TO_NAME = "image"  # the Image tag's name: `to_name`, and the task data key holding the image URL
REASON_KEY = "reason"  # task data: why depthal chose the image, shown above it


def labelling_config(classes: Sequence[tuple[str, Sequence[int]]]) -> str:
    """XML for (name, (r, g, b)) classes in train-id order."""
    view = ElementTree.Element("View")
    ElementTree.SubElement(view, "Header", value=f"${REASON_KEY}")
    ElementTree.SubElement(view, "Image", name=TO_NAME, value=f"${TO_NAME}", zoom="true")
    brush = ElementTree.SubElement(view, "BrushLabels", name=FROM_NAME, toName=TO_NAME)
    for name, (r, g, b) in classes:
        ElementTree.SubElement(brush, "Label", value=name, background=f"#{r:02x}{g:02x}{b:02x}")
    return ElementTree.tostring(view, encoding="unicode")


def check(config_xml: str, class_names: Sequence[str]) -> None:
    """Invalid naming what differs when a Label Studio project's config is not one BrushLabels tag `label` on image
    `image` whose labels are exactly the project's class names."""
    try:
        root = ElementTree.fromstring(config_xml)
    except ElementTree.ParseError as err:
        raise Invalid(f"the Label Studio project's labelling config is not XML: {err}") from None
    tags = list(root.iter("BrushLabels"))
    if len(tags) != 1 or tags[0].get("name") != FROM_NAME or tags[0].get("toName") != TO_NAME:
        raise Invalid(
            f"the Label Studio project's config must have one BrushLabels tag name={FROM_NAME!r} "
            f"toName={TO_NAME!r}; found {len(tags)} BrushLabels tag(s)"
        )
    labels = [label.get("value", "") for label in tags[0].iter("Label")]
    missing = [n for n in class_names if n not in labels]
    extra = [n for n in labels if n not in class_names]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(extra)}"] if extra else []
        )
        raise Invalid(f"the Label Studio project's labels do not match the project's classes: {'; '.join(parts)}")
