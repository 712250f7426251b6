"""Project membership: who may do what in which project (issue 19; docs/security.md has the table).

A user's role in a project is their membership row's; admins have the lead role in every project without one.
Someone who is not a member is told the project (or its image, round, job) does not exist: 404, not 403, so ids
of other teams' projects do not leak. A member whose role is not enough gets 403 naming the role needed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import queue
from service.db.tables import Membership, Project, ProjectRole, Role, User
from service.errors import Conflict, Forbidden, NotFound

ANY_MEMBER = (ProjectRole.LEAD, ProjectRole.ANNOTATOR, ProjectRole.VIEWER)
LABELERS = (ProjectRole.LEAD, ProjectRole.ANNOTATOR)  # may lease images and submit masks
LEADS = (ProjectRole.LEAD,)


def role_in(*, session: Session, project_id: int, user: User) -> ProjectRole | None:
    if user.role == Role.ADMIN:
        return ProjectRole.LEAD
    role = session.scalar(
        select(Membership.role).where(Membership.project_id == project_id, Membership.user_id == user.id)
    )
    return ProjectRole(role) if role is not None else None


def require(
    *, session: Session, project_id: int, user: User, roles: tuple[ProjectRole, ...], missing: str
) -> ProjectRole:
    """The caller's role in the project if it is one of `roles`; NotFound(`missing`) for a non-member, Forbidden
    for a member with another role."""
    role = role_in(session=session, project_id=project_id, user=user)
    if role is None:
        raise NotFound(missing)
    if role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise Forbidden(f"this needs the {allowed} role in project {project_id}; you are {role.value} there")
    return role


def project_ids_of(*, session: Session, user: User) -> list[int] | None:
    """The projects the user may see, or None for all (admins)."""
    if user.role == Role.ADMIN:
        return None
    return list(session.scalars(select(Membership.project_id).where(Membership.user_id == user.id)))


def list_members(*, session: Session, project_id: int) -> list[tuple[Membership, User]]:
    rows = session.execute(
        select(Membership, User).join(User, User.id == Membership.user_id).where(Membership.project_id == project_id)
        .order_by(User.id)
    ).all()  # fmt: skip
    return [(m, u) for m, u in rows]


def set_member(*, session: Session, project_id: int, user_id: int, role: ProjectRole) -> tuple[Membership, User]:
    """Add the user to the project with `role`, or change their role; commits."""
    if session.get(Project, project_id) is None:
        raise NotFound(f"project {project_id} does not exist")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    member = session.scalar(
        select(Membership).where(Membership.project_id == project_id, Membership.user_id == user_id)
    )
    if member is None:
        member = Membership(project_id=project_id, user_id=user_id, role=role.value)
        session.add(member)
    else:
        member.role = role.value
    try:
        session.commit()
    except IntegrityError as err:  # a concurrent add of the same pair
        session.rollback()
        raise Conflict(f"user {user_id} was added to project {project_id} meanwhile; retry") from err
    return member, user


def remove_member(*, session: Session, project_id: int, user_id: int) -> int:
    """Remove the user from the project; commits. Their open leases there are released (the images go back to the
    queue), as a deactivation does. Returns how many."""
    member = session.scalar(
        select(Membership).where(Membership.project_id == project_id, Membership.user_id == user_id)
    )
    if member is None:
        if session.get(Project, project_id) is None:
            raise NotFound(f"project {project_id} does not exist")
        raise NotFound(f"user {user_id} is not a member of project {project_id}")
    released = queue.release_open_leases(session, user_id=user_id, project_id=project_id)
    session.delete(member)
    session.commit()
    return released


def check_project_of(
    *, session: Session, project_id: int, user: User, what: str, roles: tuple[ProjectRole, ...] = ANY_MEMBER
) -> ProjectRole:
    """For routes addressed by an image, round, job or lease id: `what` ("image 7") does not exist for
    non-members of its project."""
    return require(session=session, project_id=project_id, user=user, roles=roles, missing=f"{what} does not exist")
