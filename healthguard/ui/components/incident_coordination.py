"""Coordinating the response on the incident page: change the priority (raising pages
again; lowering needs a note), name the incident lead (P0/P1, one of the responders) and
remove a responder. Each form is shown only when the server lists its action for this person
now, and the server checks again on submit, against the version the page shows."""

from __future__ import annotations

import reflex as rx

from healthguard.ui.components.incident_form_parts import (
    BOX,
    FIELD,
    HINT,
    action_button,
    choice_select,
    field_label,
)
from healthguard.ui.states.incident_detail import IncidentDetailState as S


def priority_form() -> rx.Component:
    return rx.el.form(
        rx.el.strong("Change the priority"),
        rx.el.p(
            "Now ",
            S.priority_label,
            ". Raising it pages people again; lowering it needs a note saying why.",
            style=HINT,
        ),
        field_label("New priority", "priority-to"),
        choice_select("priority-to", "priority", S.priority_options, "Choose a priority"),
        field_label("Note (required to lower the priority)", "priority-note"),
        rx.el.textarea(id="priority-note", name="note", rows=2, style=FIELD),
        action_button("Change priority", "action-change-priority", "#b91c1c", type="submit"),
        on_submit=S.change_priority,
        # Kept on a refusal (lowering without a note); drawn afresh once the incident changes.
        reset_on_submit=False,
        key=S.version,
        data_testid="priority-form",
        style=BOX,
    )


def lead_form() -> rx.Component:
    return rx.el.form(
        rx.el.strong("Name the incident lead"),
        rx.el.p(
            "For P0 and P1 incidents. The lead is one of the responders: add a person under "
            "“Add a responder” first.",
            style=HINT,
        ),
        field_label("Lead", "lead-person"),
        choice_select("lead-person", "person", S.lead_options, "Choose a responder"),
        action_button("Set lead", "action-set-lead", "#374151", type="submit"),
        on_submit=S.set_lead,
        reset_on_submit=True,
        data_testid="lead-form",
        style=BOX,
    )


def remove_responder_form() -> rx.Component:
    return rx.el.form(
        rx.el.strong("Remove a responder"),
        rx.el.p("Removing the lead leaves the incident without a lead.", style=HINT),
        field_label("Responder", "remove-person"),
        choice_select("remove-person", "person", S.responder_options, "Choose a responder"),
        action_button("Remove responder", "action-remove-responder", "#374151", type="submit"),
        on_submit=S.remove_responder,
        reset_on_submit=True,
        data_testid="remove-responder-form",
        style=BOX,
    )
