"""IncidentActions: the actions the signed-in person may take on this incident now (the
lifecycle's allowed actions for their permissions; the server checks again on each one):
acknowledge, start, escalate, reassign, add a note, add a responder, resolve with a reason;
and, from incident_coordination and incident_review, change the priority, name the lead,
remove a responder, close and reopen."""

from __future__ import annotations

import reflex as rx

from healthguard.models.incidents import RESOLUTION_REASONS, RESPONDER_ROLES
from healthguard.ui import styles
from healthguard.ui.components.incident_coordination import (
    lead_form,
    priority_form,
    remove_responder_form,
)
from healthguard.ui.components.incident_form_parts import (
    BOX,
    FIELD,
    action_button,
    allowed,
    field_label,
    people_select,
)
from healthguard.ui.components.incident_review import close_form, reopen_form
from healthguard.ui.incident_view import RESOLUTION_WORDS, ROLE_WORDS
from healthguard.ui.states.incident_detail import IncidentDetailState as S


def quick_actions() -> rx.Component:
    return rx.el.div(
        rx.cond(
            allowed("acknowledge"),
            action_button(
                "Acknowledge",
                "action-acknowledge",
                "#15803d",
                on_click=S.acknowledge,
                type="button",
            ),
        ),
        rx.cond(
            allowed("start"),
            action_button(
                "Start: I am at the bedside",
                "action-start",
                "#1d4ed8",
                on_click=S.start,
                type="button",
            ),
        ),
        style={"display": "flex", "gap": "0.5rem", "flex_wrap": "wrap"},
    )


def escalate_form() -> rx.Component:
    return rx.el.form(
        rx.el.strong("Escalate"),
        field_label("To (leave empty for the next step of the escalation policy)", "escalate-to"),
        rx.el.input(id="escalate-to", name="to", placeholder="A person or team", style=FIELD),
        action_button("Escalate", "action-escalate", "#b45309", type="submit"),
        on_submit=S.escalate,
        reset_on_submit=True,
        data_testid="escalate-form",
        style=BOX,
    )


def reassign_form() -> rx.Component:
    return rx.el.form(
        rx.el.strong("Reassign"),
        field_label("New assignee", "reassign-to"),
        people_select("reassign-to", "to"),
        field_label("Reason", "reassign-reason"),
        rx.el.input(id="reassign-reason", name="reason", placeholder="Why", style=FIELD),
        action_button("Reassign", "action-reassign", "#374151", type="submit"),
        on_submit=S.reassign,
        reset_on_submit=True,
        data_testid="reassign-form",
        style=BOX,
    )


def responder_form() -> rx.Component:
    return rx.el.form(
        rx.el.strong("Add a responder"),
        field_label("Person", "responder-person"),
        people_select("responder-person", "person"),
        field_label("Role", "responder-role"),
        rx.el.select(
            *[rx.el.option(ROLE_WORDS[r], value=r) for r in RESPONDER_ROLES],
            id="responder-role",
            name="role",
            default_value="primary_nurse",
            style=FIELD,
        ),
        action_button("Add responder", "action-add-responder", "#374151", type="submit"),
        on_submit=S.add_responder,
        reset_on_submit=True,
        data_testid="responder-form",
        style=BOX,
    )


def note_form() -> rx.Component:
    return rx.el.form(
        rx.el.strong("Add a note"),
        field_label("Note", "note-text"),
        rx.el.textarea(id="note-text", name="text", rows=3, style=FIELD),
        action_button("Add note", "action-add-note", "#374151", type="submit"),
        on_submit=S.add_note,
        reset_on_submit=True,
        data_testid="note-form",
        style=BOX,
    )


def resolve_form() -> rx.Component:
    reasons = [r for r in RESOLUTION_REASONS if r != "duplicate"]
    return rx.el.form(
        rx.el.strong("Resolve"),
        field_label("Reason", "resolve-reason"),
        rx.el.select(
            rx.el.option("Choose a reason", value=""),
            *[rx.el.option(RESOLUTION_WORDS[r], value=r) for r in reasons],
            id="resolve-reason",
            name="reason",
            default_value="",
            style=FIELD,
        ),
        field_label("Reason text (required for a false alarm or other)", "resolve-text"),
        rx.el.textarea(id="resolve-text", name="text", rows=2, style=FIELD),
        action_button("Resolve", "action-resolve", "#7f1d1d", type="submit"),
        on_submit=S.resolve,
        # Kept on a refusal (a false alarm without its text); gone once resolved.
        reset_on_submit=False,
        data_testid="resolve-form",
        style=BOX,
    )


def incident_actions() -> rx.Component:
    return rx.el.section(
        rx.el.h2("What you can do", style={"font_size": "1.1rem", "margin": "0 0 0.5rem"}),
        rx.cond(
            S.message != "",
            rx.el.p(
                S.message,
                role="status",
                data_testid="action-message",
                style={
                    "background": "#ecfdf5",
                    "color": "#065f46",
                    "padding": "0.5rem",
                    "border_radius": "6px",
                },
            ),
        ),
        rx.cond(
            S.error != "",
            rx.el.p(
                S.error,
                role="alert",
                data_testid="action-error",
                style={
                    "background": "#fde8e8",
                    "color": "#7f1d1d",
                    "padding": "0.5rem",
                    "border_radius": "6px",
                },
            ),
        ),
        rx.cond(
            S.allowed.length() > 0,
            rx.el.div(
                quick_actions(),
                rx.el.div(
                    rx.cond(allowed("change_priority"), priority_form()),
                    rx.cond(allowed("escalate"), escalate_form()),
                    rx.cond(allowed("reassign"), reassign_form()),
                    rx.cond(allowed("add_responder"), responder_form()),
                    rx.cond(allowed("set_lead"), lead_form()),
                    rx.cond(allowed("remove_responder"), remove_responder_form()),
                    rx.cond(allowed("add_note"), note_form()),
                    rx.cond(allowed("resolve"), resolve_form()),
                    rx.cond(allowed("close"), close_form()),
                    rx.cond(allowed("reopen"), reopen_form()),
                    style={
                        "display": "grid",
                        "grid_template_columns": "repeat(auto-fill, minmax(min(100%, 16rem), 1fr))",
                        "gap": "0.5rem",
                    },
                ),
                style={"display": "flex", "flex_direction": "column", "gap": "0.5rem"},
            ),
            rx.el.p(
                "No actions are open to you on this incident now.",
                data_testid="no-actions",
                style={"color": styles.MUTED_TEXT, "margin": 0},
            ),
        ),
        aria_label="Actions",
        data_testid="incident-actions",
        style={
            "background": "#ffffff",
            "border": f"1px solid {styles.CARD_BORDER}",
            "border_radius": "6px",
            "padding": "0.75rem",
            "min_width": "0",
        },
    )
