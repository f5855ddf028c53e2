"""Which wards a person may see now, and break-the-glass access to one patient.

Nurses and charge nurses see their home ward, the wards they cover, and the ward of any
shift they are on now; physicians and the rapid-response team see the hospital; admins and
auditors see no patient data (admins may break the glass). Incidents assigned to a person
are visible to them wherever they are (checked by the incident queries).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from healthguard.models import (
    Admission,
    Bed,
    BreakGlassGrant,
    Patient,
    Shift,
    Staff,
    StaffWardCover,
    UserRole,
)
from healthguard.security.audit import record_audit
from healthguard.security.permissions import (
    ALL_WARDS,
    HOSPITAL_WIDE_ROLES,
    NO_WARDS,
    Permission,
    Principal,
    WardScope,
    allows,
)


def ward_scope(session: Session, principal: Principal, *, now: datetime) -> WardScope:
    if principal.kind != "user" or not allows(principal, Permission.PATIENTS_READ):
        return NO_WARDS
    if principal.role in HOSPITAL_WIDE_ROLES:
        return ALL_WARDS
    if principal.role == UserRole.ADMIN:
        return NO_WARDS
    if not principal.staff_id:
        return NO_WARDS
    staff_id = uuid.UUID(principal.staff_id)
    wards: set[str] = set()
    staff = session.get(Staff, staff_id)
    if staff is not None and staff.home_ward_id is not None:
        wards.add(str(staff.home_ward_id))
    wards |= {
        str(w)
        for w in session.exec(
            select(StaffWardCover.ward_id).where(StaffWardCover.staff_id == staff_id)
        ).all()
    }
    wards |= {
        str(w)
        for w in session.exec(
            select(Shift.ward_id).where(
                Shift.staff_id == staff_id,
                col(Shift.starts_at) <= now,
                col(Shift.ends_at) > now,
                col(Shift.ward_id).is_not(None),
            )
        ).all()
    }
    return WardScope(all_wards=False, ward_ids=frozenset(wards))


class BreakGlassError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


MIN_REASON_LENGTH = 10


def grant_break_glass(
    session: Session,
    principal: Principal,
    patient_id: uuid.UUID,
    reason: str,
    *,
    duration_seconds: int,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> BreakGlassGrant:
    """Open one patient outside the person's scope for a limited time, with a reason."""
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise BreakGlassError(
            "reason", f"say why you need this patient (at least {MIN_REASON_LENGTH} characters)"
        )
    if session.get(Patient, patient_id) is None:
        raise BreakGlassError("patient", "no such patient")
    grant = BreakGlassGrant(
        user_id=uuid.UUID(principal.id),
        patient_id=patient_id,
        reason=reason[:2000],
        granted_at=now,
        expires_at=now + timedelta(seconds=duration_seconds),
    )
    session.add(grant)
    session.flush()
    record_audit(
        session,
        actor=principal.audit_name,
        action="break_glass.granted",
        record_type="patient",
        record_id=str(patient_id),
        outcome="granted",
        ip=ip,
        user_agent=user_agent,
        details={"reason": grant.reason, "expires_at": grant.expires_at.isoformat()},
        now=now,
    )
    return grant


def active_break_glass(
    session: Session, principal: Principal, patient_id: uuid.UUID, *, now: datetime
) -> BreakGlassGrant | None:
    if principal.kind != "user":
        return None
    return session.exec(
        select(BreakGlassGrant)
        .where(
            BreakGlassGrant.user_id == uuid.UUID(principal.id),
            BreakGlassGrant.patient_id == patient_id,
            col(BreakGlassGrant.expires_at) > now,
        )
        .order_by(col(BreakGlassGrant.expires_at).desc())
    ).first()


def patient_ward_id(session: Session, patient_id: uuid.UUID) -> uuid.UUID | None:
    """The ward of the patient's current admission (None: not admitted)."""
    return session.exec(
        select(Bed.ward_id)
        .join(Admission, col(Admission.bed_id) == col(Bed.id))
        .where(Admission.patient_id == patient_id, col(Admission.discharged_at).is_(None))
    ).first()


def patient_access(
    session: Session, principal: Principal, patient_id: uuid.UUID, *, now: datetime
) -> str | None:
    """How the principal may read this patient: "scope", "break_glass", or None (no access,
    answered exactly like a patient that does not exist)."""
    if not allows(principal, Permission.PATIENTS_READ):
        return None
    if session.get(Patient, patient_id) is None:
        return None
    if ward_scope(session, principal, now=now).covers(patient_ward_id(session, patient_id)):
        return "scope"
    if active_break_glass(session, principal, patient_id, now=now) is not None:
        return "break_glass"
    return None
