"""Integrations and keys: the list (key prefix only), the create form, the key shown once,
and revocation with a confirm step."""

from __future__ import annotations

import reflex as rx

from healthguard.ui.admin_actions import IntegrationRow
from healthguard.ui.components.admin_common import (
    BUTTON,
    CELL,
    DANGER_BUTTON,
    FIELD,
    QUIET_BUTTON,
    ROW_GAP,
    field,
    loading_or,
    messages,
    section,
    table,
)
from healthguard.ui.states.admin_integrations import AdminIntegrationsState as S

KINDS = ("pagerduty", "alertmanager", "generic", "heartbeat")


def new_key_box() -> rx.Component:
    return rx.cond(
        S.new_key != "",
        rx.el.div(
            rx.el.p(
                rx.el.strong("Key of ", S.new_key_name, ": copy it now. "),
                "It is shown only this once; afterwards only its first characters are kept.",
            ),
            rx.cond(
                S.new_key_kind == "pagerduty",
                rx.el.p(
                    "A PagerDuty-compatible key (32 hexadecimal characters): use it as the "
                    "routing_key of POST /v2/enqueue."
                ),
            ),
            rx.el.input(
                value=S.new_key,
                read_only=True,
                aria_label="The new integration key",
                data_testid="new-integration-key",
                style={**FIELD, "font_family": "monospace"},
            ),
            rx.el.p("Select the field and copy (Ctrl+C / Cmd+C).", style={"font_size": "0.85rem"}),
            role="status",
            style={
                "background": "#fef9c3",
                "border": "1px solid #ca8a04",
                "color": "#111827",
                "padding": "0.75rem",
                "border_radius": "6px",
                "margin": "0.5rem 0",
            },
        ),
    )


def create_form() -> rx.Component:
    return rx.el.form(
        field("Name", rx.el.input(name="name", required=True, id="integration-name", style=FIELD)),
        field(
            "Kind",
            rx.el.select(
                *[rx.el.option(k, value=k) for k in KINDS],
                name="kind",
                id="integration-kind",
                style=FIELD,
            ),
            "0 1 11rem",
        ),
        field(
            "Severity → priority (optional)",
            rx.el.input(
                name="severity_map", placeholder="e.g. critical=P1, warning=P3", style=FIELD
            ),
        ),
        field(
            "Ward code (optional)",
            rx.el.input(name="default_ward_code", placeholder="e.g. ICU", style=FIELD),
            "0 1 9rem",
        ),
        field(
            "Heartbeat every (s)",
            rx.el.input(name="heartbeat_interval_seconds", inputmode="numeric", style=FIELD),
            "0 1 9rem",
        ),
        rx.el.button("Create integration", type="submit", style=BUTTON),
        on_submit=S.create,
        reset_on_submit=True,
        key=S.form_version,
        aria_label="Create an integration",
        style=ROW_GAP,
    )


def integration_row(row: IntegrationRow) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row.name, style=CELL),
        rx.el.td(row.kind, style=CELL),
        rx.el.td(row.rule, style=CELL),
        rx.el.td(rx.cond(row.ward != "", row.ward, "—"), style=CELL),
        rx.el.td(rx.el.code(row.key_prefix, "…"), style=CELL),
        rx.el.td(row.status, style=CELL),
        rx.el.td(
            rx.cond(
                row.enabled,
                rx.cond(
                    S.confirming == row.id,
                    rx.el.div(
                        rx.el.span("Revoke ", row.name, "? Its key stops working at once."),
                        rx.el.button(
                            "Yes, revoke",
                            on_click=S.revoke(row.id),
                            data_testid="confirm-revoke",
                            style=DANGER_BUTTON,
                        ),
                        rx.el.button("Cancel", on_click=S.cancel_revoke, style=QUIET_BUTTON),
                        style=ROW_GAP,
                    ),
                    rx.el.button(
                        "Disable and revoke key",
                        on_click=S.ask_revoke(row.id),
                        aria_label="Disable and revoke the key of " + row.name,
                        data_testid="revoke-integration",
                        style=QUIET_BUTTON,
                    ),
                ),
                rx.el.span("—"),
            ),
            style=CELL,
        ),
        data_testid="integration-row",
    )


def admin_integrations() -> rx.Component:
    return section(
        "integrations",
        "Integrations and keys",
        messages(S.error, S.notice, "integrations"),
        new_key_box(),
        create_form(),
        loading_or(
            S.loaded,
            S.rows.length() == 0,
            "No integrations yet.",
            table(
                "Integrations",
                ["Name", "Kind", "Severity → priority", "Ward", "Key", "State", "Action"],
                rx.el.tbody(rx.foreach(S.rows, integration_row)),
            ),
        ),
    )
