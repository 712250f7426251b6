"""Link a depthal project to a Label Studio project (checked against the server first; nothing saved on a refusal)
and open a client from a project's stored link."""

from __future__ import annotations

from sqlalchemy.orm import Session

from contracts.settings import LabelStudioLink, ProjectSettings
from service.db.tables import Project
from service.errors import Invalid, Unavailable
from service.labelstudio.client import LabelStudioClient
from service.labelstudio.config import check, labelling_config
from service.labelstudio.push import ML_BACKEND_TITLE
from service.labelstudio.schemas import LinkCreate, LinkPublic
from service.labelstudio.signing import ML_USER, WEBHOOK_HEADER, ml_password, webhook_secret


def link(*, session: Session, project: Project, link_in: LinkCreate) -> LinkPublic:
    """Check URL and token, create the Label Studio project (or check an existing one's labels), register the
    webhook, then store the link in the project's settings; commits only when every check passed."""
    url, public_url = link_in.url.rstrip("/"), link_in.public_url.rstrip("/")
    for name, value in (("url", url), ("public_url", public_url)):
        if not value.startswith(("http://", "https://")):
            raise Invalid(f"{name} must be an http:// or https:// URL; got {value!r}")
    names = [c.name for c in project.classes]
    with LabelStudioClient(url, link_in.token) as client:
        try:
            client.whoami()
            if link_in.project is None:
                created = client.create_project(
                    f"depthal: {project.name}"[:50], labelling_config([(c.name, c.color) for c in project.classes])
                )
                ls_project = int(created["id"])
            else:
                ls_project = link_in.project
                check(client.project(ls_project).get("label_config", ""), names)
        except Unavailable as err:  # at link time an unreachable URL is the caller's mistake
            raise Invalid(err.detail) from None
        webhook, webhook_error = None, None
        if link_in.webhook:
            hook_url = f"{public_url}/labelstudio/webhook/{project.id}"
            try:
                webhook = client.create_webhook(ls_project, hook_url, {WEBHOOK_HEADER: webhook_secret(project.id)})
            except (Invalid, Unavailable) as err:  # e.g. a private address Label Studio blocks: sync polls instead
                webhook_error = err.detail
        ml_backend, ml_backend_error = None, None
        if link_in.ml_backend:
            ml_url = f"{public_url}/labelstudio/ml/{project.id}"
            try:
                ml_backend = client.create_ml_backend(
                    ls_project, ml_url, ML_BACKEND_TITLE, ML_USER, ml_password(project.id)
                )
            except (Invalid, Unavailable) as err:  # optional: the link stands without it
                ml_backend_error = err.detail
    stored = LabelStudioLink(
        url=url, project=ls_project, token=link_in.token, public_url=public_url, webhook=webhook, ml_backend=ml_backend
    )
    settings = ProjectSettings.model_validate(project.settings or {})
    project.settings = settings.model_copy(update={"labelstudio": stored}).stored()
    session.commit()
    return LinkPublic(
        url=url,
        project=ls_project,
        public_url=public_url,
        webhook=webhook,
        webhook_error=webhook_error,
        ml_backend=ml_backend,
        ml_backend_error=ml_backend_error,
    )


def linked(project: Project) -> LabelStudioLink:
    """The project's link; Invalid when it has none."""
    found = ProjectSettings.model_validate(project.settings or {}).labelstudio
    if found is None:
        raise Invalid(
            f"project {project.id} is not linked to Label Studio: link it first "
            f"(POST /projects/{project.id}/labelstudio/link or `depthal labelstudio link`)"
        )
    return found


def client_for(project: Project) -> tuple[LabelStudioLink, LabelStudioClient]:
    found = linked(project)
    return found, LabelStudioClient(found.url, found.token.get_secret_value())
