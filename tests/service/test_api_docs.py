"""docs/api.md documents every field of the `next` response: its field table must match the response schema."""

from __future__ import annotations

import re
from pathlib import Path

from service.schemas import ImagePublic, LeaseWithImage, PrelabelLinks, SelectionReason

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_next_response_fields_are_all_documented() -> None:
    section = API_DOC.read_text().split("## The `next` response", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_.]+)` \|", section, flags=re.MULTILINE)
    assert documented == [*LeaseWithImage.model_fields, *(f"reason.{f}" for f in SelectionReason.model_fields)]
    rows = {line.split("`")[1]: line for line in section.splitlines() if line.startswith("| `")}
    for name, schema in (("image", ImagePublic), ("prelabel", PrelabelLinks)):  # nested: each field named in its row
        missing = [f for f in schema.model_fields if f"`{f}`" not in rows[name]]
        assert missing == [], f"{name} fields not documented: {missing}"
