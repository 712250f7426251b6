"""Project membership (issue 19): who may do what in a project. Admins manage it; a project's leads may read it."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.api.deps import AdminUser, ProjectLead, SessionDep
from service.api.params import RowId
from service.crud import members as crud
from service.schemas import MemberPublic, MemberSet, MembersPublic

router = APIRouter(prefix="/projects/{project_id}/members", tags=["members"])


@router.get("")
def read_members(session: SessionDep, project: ProjectLead) -> MembersPublic:
    """The project's members and their roles (admins, who may do everything everywhere, are not listed)."""
    rows = crud.list_members(session=session, project_id=project.id)
    data = [MemberPublic(user_id=u.id, name=u.name, role=m.role, created_at=m.created_at) for m, u in rows]
    return MembersPublic(data=data, count=len(data))


@router.put("/{user_id}")
def set_member(
    session: SessionDep, _admin: AdminUser, project_id: RowId, user_id: RowId, body: MemberSet
) -> MemberPublic:
    """Add a user to the project with a role, or change their role (admin)."""
    member, user = crud.set_member(session=session, project_id=project_id, user_id=user_id, role=body.role)
    return MemberPublic(user_id=user.id, name=user.name, role=member.role, created_at=member.created_at)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(session: SessionDep, _admin: AdminUser, project_id: RowId, user_id: RowId) -> Response:
    """Remove a user from the project (admin): from then on it does not exist for them (404); their open leases
    there are released, the images back in the queue."""
    crud.remove_member(session=session, project_id=project_id, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
