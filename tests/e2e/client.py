"""A small HTTP client for the end-to-end tests and the demo path: project, images, jobs, rounds, annotation."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.factories import mask_png, solid_png

FINISHED = {"succeeded", "failed", "cancelled"}


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def ok(self, response: httpx.Response, *codes: int) -> Any:
        assert response.status_code in (codes or (200, 201, 202)), f"{response.status_code}: {response.text}"
        return response.json() if response.content else None

    def add_member(self, project_id: int, token: str, role: str = "annotator") -> None:
        """(This client is an admin's.) Make the holder of `token` a member of the project with `role`."""
        member = Client(str(self.http.base_url), token)
        user_id = member.ok(member.http.get("/users/me"))["id"]
        self.ok(self.http.put(f"/projects/{project_id}/members/{user_id}", json={"role": role}))

    def create_project(self, name: str, budget: int = 10, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        # Default: the smallest model round at a small image size, for a production worker (`depthal up`, the
        # compose commands); a test worker app runs the model-free round whatever the settings (tests/worker).
        settings = {"preset": "tiny", "device": "cpu"} if settings is None else settings
        body = {"name": name, "label_budget": budget, "settings": settings, "image_height": 64, "image_width": 128}
        return self.ok(self.http.post("/projects", json=body), 201)

    def upload_images(self, project_id: int, n: int, *, broken: int | None = None) -> list[dict[str, Any]]:
        images = []
        for k in range(n):
            data = solid_png(32, 16, seed=k)
            prev, nxt = solid_png(32, 16, seed=100 + k), solid_png(32, 16, seed=200 + k)
            files = {"file": (f"img{k}.png", data, "image/png"), "prev": ("p.png", prev, "image/png"),
                     "next": ("n.png", nxt, "image/png")}  # fmt: skip
            images.append(self.ok(self.http.post(f"/projects/{project_id}/images", files=files), 201))
        return images

    def _wait_finished(self, path: str, timeout: float, interval: float) -> dict[str, Any]:
        """Poll a job or round until its status is final."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.ok(self.http.get(path), 200)
            if row["status"] in FINISHED:
                return row
            time.sleep(interval)
        raise AssertionError(f"{path} did not finish in {timeout} s: {row}")

    def wait_job(self, job_id: int, timeout: float = 60) -> dict[str, Any]:
        return self._wait_finished(f"/jobs/{job_id}", timeout, 0.1)

    def wait_round(self, round_id: int, timeout: float = 300) -> dict[str, Any]:
        return self._wait_finished(f"/rounds/{round_id}", timeout, 0.2)

    def validate(self, project_id: int) -> dict[str, Any]:
        job = self.ok(self.http.post(f"/projects/{project_id}/jobs", json={"kind": "validate_images"}), 202)
        return self.wait_job(job["id"])

    def random_round(self, project_id: int, batch_size: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """A round with the random strategy, waited for; returns it and the job that queued its batch (the model
        round's queue stage, or the plain round's only job)."""
        body = {"batch_size": batch_size, "strategy": "random"}
        round_ = self.ok(self.http.post(f"/projects/{project_id}/rounds", json=body), 202)
        round_ = self.wait_round(round_["id"], timeout=180)
        queued_by = [j for j in round_["jobs"] if "queued" in j["result"]] or round_["jobs"][-1:]
        return round_, queued_by[-1]

    def annotate_one(self, project_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        lease = self.ok(self.http.post(f"/projects/{project_id}/queue/next"), 200)
        image = lease["image"]
        png = mask_png(image["width"], image["height"], 1)
        mask = self.ok(self.http.put(f"/images/{image['id']}/mask", files={"file": ("m.png", png, "image/png")}), 201)
        return lease, mask
