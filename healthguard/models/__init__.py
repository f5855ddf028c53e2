"""Every HealthGuard table (plain SQLModel, importable without Reflex or Redis).

``metadata`` is the target of Alembic migrations; its naming convention (set in
``healthguard.models.base``) gives every index and constraint a stable name.
"""

from sqlmodel import SQLModel

from healthguard.models.alerts import Alert, AlertKind
from healthguard.models.audit import AuditLog
from healthguard.models.auth import ApiKey, BreakGlassGrant, RefreshToken, UiSession
from healthguard.models.base import NAMING_CONVENTION, PRIORITIES, utcnow
from healthguard.models.clinical import AlarmPause, AlarmRule, News2Score
from healthguard.models.escalation import EscalationPolicy
from healthguard.models.hospital import Bed, Room, Ward
from healthguard.models.incidents import (
    Incident,
    IncidentEvent,
    IncidentResponder,
    IncidentStatus,
)
from healthguard.models.integrations import Integration as Integration  # registers its tables
from healthguard.models.notifications import Channel, Notification, NotificationStatus
from healthguard.models.oncall import (
    CoverageRequirement,
    IncidentEscalation,
    OverrideKind,
    PushSubscription,
    Schedule,
    ScheduleOverride,
    SwapRequest,
    SwapStatus,
    UsedAnswerToken,
)
from healthguard.models.patients import Admission, Patient
from healthguard.models.reply_codes import SmsReplyCode as SmsReplyCode  # registers its table
from healthguard.models.staff import (
    Availability,
    Shift,
    Skill,
    Staff,
    StaffRole,
    StaffSkill,
    StaffWardCover,
)
from healthguard.models.users import User, UserRole
from healthguard.models.vitals import Observation, VitalParameter

metadata = SQLModel.metadata

__all__ = [
    "NAMING_CONVENTION",
    "PRIORITIES",
    "Admission",
    "AlarmPause",
    "AlarmRule",
    "Alert",
    "AlertKind",
    "ApiKey",
    "AuditLog",
    "Availability",
    "Bed",
    "BreakGlassGrant",
    "Channel",
    "CoverageRequirement",
    "EscalationPolicy",
    "Incident",
    "IncidentEscalation",
    "IncidentEvent",
    "IncidentResponder",
    "IncidentStatus",
    "News2Score",
    "Notification",
    "NotificationStatus",
    "Observation",
    "OverrideKind",
    "Patient",
    "PushSubscription",
    "RefreshToken",
    "Room",
    "Schedule",
    "ScheduleOverride",
    "Shift",
    "Skill",
    "Staff",
    "StaffRole",
    "StaffSkill",
    "StaffWardCover",
    "SwapRequest",
    "SwapStatus",
    "UiSession",
    "UsedAnswerToken",
    "User",
    "UserRole",
    "VitalParameter",
    "Ward",
    "metadata",
    "utcnow",
]
