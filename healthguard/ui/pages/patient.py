"""The patient page (/patients/[patient_id]): who and where, vital-sign trends with the NEWS2
bands, NEWS2 over time, alerts and incidents, the SpO2 scale and alarm pauses. Live: a
hidden clock re-reads the patient every few seconds."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import routes, styles
from healthguard.ui.components.header import header
from healthguard.ui.components.patient_vitals import (
    alarm_pause,
    news2_trend,
    patient_header,
    patient_history,
    patient_vitals,
    refresh_clock,
    scale_setting,
)
from healthguard.ui.states.patient_detail import PatientDetailState as S

BANNER = {"padding": "0.5rem 0.75rem", "border_radius": "6px", "margin": "0 0 0.75rem"}


def banners() -> rx.Component:
    return rx.fragment(
        rx.cond(
            S.action_error != "",
            rx.el.p(
                S.action_error,
                role="alert",
                data_testid="patient-action-error",
                style={**BANNER, "background": "#fee2e2", "color": "#7f1d1d"},
            ),
        ),
        rx.cond(
            S.message != "",
            rx.el.p(
                S.message,
                role="status",
                data_testid="patient-message",
                style={**BANNER, "background": "#ecfdf5", "color": "#065f46"},
            ),
        ),
    )


def content() -> rx.Component:
    return rx.el.div(
        banners(),
        rx.cond(
            S.error != "",
            rx.el.p(
                S.error,
                role="alert",
                data_testid="patient-error",
                style={**BANNER, "background": "#fee2e2", "color": "#7f1d1d"},
            ),
        ),
        patient_header(),
        rx.el.div(
            rx.el.div(
                patient_vitals(),
                news2_trend(),
                style={
                    "display": "flex",
                    "flex_direction": "column",
                    "gap": "0.75rem",
                    "flex": "3 1 30rem",
                    "min_width": "0",
                },
            ),
            rx.el.div(
                alarm_pause(),
                scale_setting(),
                patient_history(),
                style={
                    "display": "flex",
                    "flex_direction": "column",
                    "gap": "0.75rem",
                    "flex": "1 1 20rem",
                    "min_width": "0",
                },
            ),
            style={
                "display": "flex",
                "flex_wrap": "wrap",
                "gap": "0.75rem",
                "margin_top": "0.75rem",
                "align_items": "flex-start",
            },
        ),
        rx.el.p(
            "Updated ",
            S.updated_at,
            " (hospital time) · the page updates by itself every few seconds.",
            style={"color": styles.MUTED_TEXT, "font_size": "0.8rem"},
        ),
        refresh_clock(),
    )


def patient_body() -> rx.Component:
    """The patient, or why not: shared by the page and the dashboard's drawer."""
    return rx.cond(
        S.loading,
        rx.el.p("Loading the patient…", role="status", data_testid="patient-loading"),
        rx.cond(
            S.allowed,
            content(),
            rx.el.p(
                S.error,
                role="alert",
                data_testid="patient-not-allowed",
                style={**BANNER, "background": "#fee2e2", "color": "#7f1d1d"},
            ),
        ),
    )


def patient_page() -> rx.Component:
    return rx.el.div(
        header(with_ward_selector=False),
        rx.el.main(
            rx.el.a(
                "← Back to the dashboard",
                href=routes.DASHBOARD,
                style={
                    "display": "inline-flex",
                    "align_items": "center",
                    "min_height": "44px",
                    "color": "#1d4ed8",
                },
            ),
            patient_body(),
            style={
                "padding": "0.75rem 1rem",
                "max_width": styles.PAGE_MAX_WIDTH,
                "margin": "0 auto",
                "box_sizing": "border-box",
                "width": "100%",
                "overflow_wrap": "anywhere",
            },
        ),
        style={
            "min_height": "100vh",
            "background": "#f3f4f6",
            "font_family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        },
    )
