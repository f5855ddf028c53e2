"""Initial schema

Every table: hospital (wards, rooms, beds), patients and admissions, staff, skills, covers and
shifts, users, vital-sign observations, alerts, incidents and their events, notifications,
escalation policies and steps, and the audit log.

Generated with autogenerate against an empty database, then checked by hand: names come
from the naming convention in healthguard.models.base; downgrade drops every table (their
indexes and identity sequences go with them).

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-26 03:34:46+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prev_hash", sa.String(length=128), nullable=False),
        sa.Column("hash", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    op.create_index(
        "ix_audit_log_record_type_record_id",
        "audit_log",
        ["record_type", "record_id"],
        unique=False,
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mrn", sa.String(length=64), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=False),
        sa.Column("allergies", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("spo2_scale", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "sex IN ('female', 'male', 'other', 'unknown')", name=op.f("ck_patients_sex_valid")
        ),
        sa.CheckConstraint("spo2_scale IN (1, 2)", name=op.f("ck_patients_spo2_scale_valid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint("mrn", name=op.f("uq_patients_mrn")),
    )
    op.create_table(
        "wards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wards")),
        sa.UniqueConstraint("code", name=op.f("uq_wards_code")),
    )
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=True),
        sa.Column("ward_id", sa.Uuid(), nullable=True),
        sa.Column("repeat_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "priority IN ('P0', 'P1', 'P2', 'P3', 'P4')",
            name=op.f("ck_escalation_policies_priority_valid"),
        ),
        sa.CheckConstraint(
            "repeat_count >= 0", name=op.f("ck_escalation_policies_repeat_count_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["ward_id"],
            ["wards.id"],
            name=op.f("fk_escalation_policies_ward_id_wards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_escalation_policies_name")),
    )
    op.create_index(
        op.f("ix_escalation_policies_ward_id"), "escalation_policies", ["ward_id"], unique=False
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("parameter", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("value_text", sa.String(length=64), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_observations_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        sa.UniqueConstraint(
            "source",
            "patient_id",
            "parameter",
            "observed_at",
            name=op.f("uq_observations_source_patient_id_parameter_observed_at"),
        ),
    )
    op.create_index(
        "ix_observations_patient_id_parameter_observed_at",
        "observations",
        ["patient_id", "parameter", sa.literal_column("observed_at DESC")],
        unique=False,
    )
    op.create_table(
        "rooms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ward_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["ward_id"], ["wards.id"], name=op.f("fk_rooms_ward_id_wards"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("ward_id", "name", name=op.f("uq_rooms_ward_id_name")),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("home_ward_id", sa.Uuid(), nullable=True),
        sa.Column("availability", sa.String(length=16), nullable=False),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("pager_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "availability IN ('available', 'busy', 'on_break', 'off')",
            name=op.f("ck_staff_availability_valid"),
        ),
        sa.CheckConstraint(
            "role IN ('nurse', 'charge_nurse', 'resident', 'attending', 'rapid_response', 'operator')",
            name=op.f("ck_staff_role_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["home_ward_id"],
            ["wards.id"],
            name=op.f("fk_staff_home_ward_id_wards"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
    )
    op.create_index(op.f("ix_staff_display_name"), "staff", ["display_name"], unique=False)
    op.create_index(op.f("ix_staff_home_ward_id"), "staff", ["home_ward_id"], unique=False)
    op.create_table(
        "beds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ward_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=True),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_beds_room_id_rooms"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["ward_id"], ["wards.id"], name=op.f("fk_beds_ward_id_wards"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beds")),
        sa.UniqueConstraint("ward_id", "label", name=op.f("uq_beds_ward_id_label")),
    )
    op.create_index(op.f("ix_beds_room_id"), "beds", ["room_id"], unique=False)
    op.create_table(
        "escalation_steps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("delay_seconds", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_ref", sa.String(length=200), nullable=False),
        sa.Column("repeat_every_seconds", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "target_kind IN ('person', 'schedule', 'ward_role', 'team', 'round_robin', 'everyone')",
            name=op.f("ck_escalation_steps_target_kind_valid"),
        ),
        sa.CheckConstraint(
            "delay_seconds >= 0", name=op.f("ck_escalation_steps_delay_non_negative")
        ),
        sa.CheckConstraint(
            "repeat_every_seconds IS NULL OR repeat_every_seconds > 0",
            name=op.f("ck_escalation_steps_repeat_every_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["escalation_policies.id"],
            name=op.f("fk_escalation_steps_policy_id_escalation_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_steps")),
        sa.UniqueConstraint(
            "policy_id", "position", name=op.f("uq_escalation_steps_policy_id_position")
        ),
    )
    op.create_table(
        "shifts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("ward_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_shifts_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_shifts_staff_id_staff"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ward_id"], ["wards.id"], name=op.f("fk_shifts_ward_id_wards"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
        sa.UniqueConstraint("staff_id", "starts_at", name=op.f("uq_shifts_staff_id_starts_at")),
    )
    op.create_index(
        "ix_shifts_ward_id_starts_at_ends_at",
        "shifts",
        ["ward_id", "starts_at", "ends_at"],
        unique=False,
    )
    op.create_table(
        "staff_skills",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("skill", sa.String(length=64), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_skills_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_skills")),
        sa.UniqueConstraint("staff_id", "skill", name=op.f("uq_staff_skills_staff_id_skill")),
    )
    op.create_table(
        "staff_ward_covers",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("ward_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_ward_covers_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ward_id"],
            ["wards.id"],
            name=op.f("fk_staff_ward_covers_ward_id_wards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", "ward_id", name=op.f("pk_staff_ward_covers")),
    )
    op.create_index(
        op.f("ix_staff_ward_covers_ward_id"), "staff_ward_covers", ["ward_id"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('nurse', 'charge_nurse', 'physician', 'rapid_response', 'admin', 'auditor')",
            name=op.f("ck_users_role_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_users_staff_id_staff"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index(op.f("ix_users_staff_id"), "users", ["staff_id"], unique=False)
    op.create_table(
        "admissions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("bed_id", sa.Uuid(), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("discharged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "discharged_at IS NULL OR discharged_at >= admitted_at",
            name=op.f("ck_admissions_discharge_after_admit"),
        ),
        sa.ForeignKeyConstraint(
            ["bed_id"], ["beds.id"], name=op.f("fk_admissions_bed_id_beds"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_admissions_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admissions")),
    )
    op.create_index(op.f("ix_admissions_bed_id"), "admissions", ["bed_id"], unique=False)
    op.create_index(op.f("ix_admissions_patient_id"), "admissions", ["patient_id"], unique=False)
    op.create_index(
        "uq_admissions_bed_id_current",
        "admissions",
        ["bed_id"],
        unique=True,
        postgresql_where=sa.text("discharged_at IS NULL"),
    )
    op.create_index(
        "uq_admissions_patient_id_current",
        "admissions",
        ["patient_id"],
        unique=True,
        postgresql_where=sa.text("discharged_at IS NULL"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ward_id", sa.Uuid(), nullable=True),
        sa.Column("bed_id", sa.Uuid(), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("assignee_staff_id", sa.Uuid(), nullable=True),
        sa.Column("escalation_policy_id", sa.Uuid(), nullable=True),
        sa.Column("escalation_step", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "priority IN ('P0', 'P1', 'P2', 'P3', 'P4')", name=op.f("ck_incidents_priority_valid")
        ),
        sa.CheckConstraint(
            "status IN ('triggered', 'acknowledged', 'resolved')",
            name=op.f("ck_incidents_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["assignee_staff_id"],
            ["staff.id"],
            name=op.f("fk_incidents_assignee_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["bed_id"], ["beds.id"], name=op.f("fk_incidents_bed_id_beds"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["escalation_policy_id"],
            ["escalation_policies.id"],
            name=op.f("fk_incidents_escalation_policy_id_escalation_policies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_incidents_patient_id_patients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ward_id"], ["wards.id"], name=op.f("fk_incidents_ward_id_wards"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("number", name=op.f("uq_incidents_number")),
    )
    op.create_index(
        op.f("ix_incidents_assignee_staff_id"), "incidents", ["assignee_staff_id"], unique=False
    )
    op.create_index(op.f("ix_incidents_patient_id"), "incidents", ["patient_id"], unique=False)
    op.create_index(
        "ix_incidents_status_priority_opened_at",
        "incidents",
        ["status", "priority", "opened_at"],
        unique=False,
    )
    op.create_index(op.f("ix_incidents_ward_id"), "incidents", ["ward_id"], unique=False)
    op.create_index(
        "uq_incidents_dedup_key_open",
        "incidents",
        ["dedup_key"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("ward_id", sa.Uuid(), nullable=True),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("news2_score", sa.Integer(), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('physiological', 'technical', 'advisory', 'external')",
            name=op.f("ck_alerts_kind_valid"),
        ),
        sa.CheckConstraint(
            "priority IN ('P0', 'P1', 'P2', 'P3', 'P4')", name=op.f("ck_alerts_priority_valid")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_alerts_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_alerts_patient_id_patients"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ward_id"], ["wards.id"], name=op.f("fk_alerts_ward_id_wards"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_incident_id"), "alerts", ["incident_id"], unique=False)
    op.create_index(
        "ix_alerts_patient_id_created_at", "alerts", ["patient_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_alerts_ward_id"), "alerts", ["ward_id"], unique=False)
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_events_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    op.create_index(
        "ix_incident_events_incident_id_at", "incident_events", ["incident_id", "at"], unique=False
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "channel IN ('in_app', 'push', 'sms', 'voice', 'email', 'pager')",
            name=op.f("ck_notifications_channel_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'delivered', 'failed', 'read', 'answered')",
            name=op.f("ck_notifications_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_notifications_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_notifications_staff_id_staff"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        op.f("ix_notifications_incident_id"), "notifications", ["incident_id"], unique=False
    )
    op.create_index(
        "ix_notifications_staff_id_status", "notifications", ["staff_id", "status"], unique=False
    )


def downgrade() -> None:
    # Reverse dependency order; dropping a table drops its indexes and constraints.
    op.drop_table("notifications")
    op.drop_table("incident_events")
    op.drop_table("alerts")
    op.drop_table("incidents")
    op.drop_table("admissions")
    op.drop_table("users")
    op.drop_table("staff_ward_covers")
    op.drop_table("staff_skills")
    op.drop_table("shifts")
    op.drop_table("escalation_steps")
    op.drop_table("beds")
    op.drop_table("staff")
    op.drop_table("rooms")
    op.drop_table("observations")
    op.drop_table("escalation_policies")
    op.drop_table("wards")
    op.drop_table("patients")
    op.drop_table("audit_log")
