"""After the incident is resolved, on the incident page: close it after review (final), or
reopen it within the reopen window (it is triggered again and people are paged from the
first step), with when the window ends. Shown only when the server lists the action for this
person now; the server checks again on submit, against the version the page shows."""

from __future__ import annotations

import reflex as rx

from healthguard.ui.components.incident_form_parts import (
    BOX,
    FIELD,
    HINT,
    action_button,
    field_label,
)
from healthguard.ui.states.incident_detail import IncidentDetailState as S


def close_form() -> rx.Component:
    return rx.el.form(
        rx.el.strong("Close after review"),
        rx.el.p("Closing is final: a closed incident cannot be reopened.", style=HINT),
        field_label("Review note (optional)", "close-note"),
        rx.el.textarea(id="close-note", name="note", rows=2, style=FIELD),
        action_button("Close incident", "action-close", "#374151", type="submit"),
        on_submit=S.close,
        reset_on_submit=True,
        data_testid="close-form",
        style=BOX,
    )


def reopen_form() -> rx.Component:
    return rx.el.form(
        rx.el.strong("Reopen"),
        rx.cond(
            S.reopen_until != "",
            rx.el.p(
                "You can reopen it until ",
                S.reopen_until_local,
                " (",
                rx.moment(S.reopen_until, from_now=True, interval=60000),
                "). It is triggered again and people are paged from the first step.",
                data_testid="reopen-window",
                style=HINT,
            ),
        ),
        field_label("Reason (optional)", "reopen-reason"),
        rx.el.input(id="reopen-reason", name="reason", placeholder="Why", style=FIELD),
        action_button("Reopen", "action-reopen", "#b45309", type="submit"),
        on_submit=S.reopen,
        reset_on_submit=True,
        data_testid="reopen-form",
        style=BOX,
    )
