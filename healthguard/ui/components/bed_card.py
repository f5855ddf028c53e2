"""BedCard: one bed of the ward board with its patient's latest vitals."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.states.feed import BedCardData


def bed_card(bed: BedCardData) -> rx.Component:
    return rx.el.article(
        rx.el.div(
            rx.el.strong(bed.ward, " ", bed.bed),
            rx.cond(
                bed.occupied,
                rx.el.a(
                    bed.patient,
                    href=bed.patient_href,
                    aria_label="Patient " + bed.patient + ", bed " + bed.bed + ": open",
                    data_testid="bed-patient-link",
                    style={
                        "font_weight": "600",
                        "color": "#1d4ed8",
                        "min_height": "44px",
                        "min_width": "44px",
                        "display": "inline-flex",
                        "align_items": "center",
                    },
                ),
                rx.el.span("Empty", style={"color": styles.MUTED_TEXT}),
            ),
            rx.cond(
                bed.paused,
                rx.el.span(
                    "Alarms paused until ",
                    bed.paused_until,
                    data_testid="bed-paused",
                    title="P1-P4 alarms are recorded but page nobody until then; P0 still alarms",
                    style={
                        "font_size": "0.75rem",
                        "font_weight": "700",
                        "background": "#854d0e",
                        "color": "#ffffff",
                        "padding": "0 0.3rem",
                        "border_radius": "4px",
                    },
                ),
            ),
            rx.cond(
                bed.scale2,
                rx.el.span(
                    "SpO2 Scale 2",
                    title="NEWS2 SpO2 Scale 2 (target 88-92 %)",
                    style={
                        "font_size": "0.75rem",
                        "border": "1px solid #6b21a8",
                        "color": "#6b21a8",
                        "padding": "0 0.3rem",
                        "border_radius": "4px",
                    },
                ),
            ),
            style={
                "display": "flex",
                "gap": "0.5rem",
                "align_items": "center",
                "flex_wrap": "wrap",
            },
        ),
        rx.cond(
            bed.occupied,
            rx.el.div(
                rx.cond(
                    bed.vitals.length() > 0,
                    rx.foreach(
                        bed.vitals,
                        lambda v: rx.el.span(
                            v, style={"white_space": "nowrap", "margin_right": "0.6rem"}
                        ),
                    ),
                    rx.el.span("No vitals recorded"),
                ),
                rx.cond(
                    bed.last_vitals_at != "",
                    rx.el.span(
                        " · ",
                        rx.moment(bed.last_vitals_at, from_now=True, interval=30000),
                        style={"color": styles.MUTED_TEXT},
                    ),
                ),
                style={
                    "font_size": "0.85rem",
                    "margin_top": "0.25rem",
                    "overflow_wrap": "anywhere",
                },
            ),
        ),
        data_testid="bed-card",
        style={
            "border": f"1px solid {styles.CARD_BORDER}",
            "border_radius": "6px",
            "padding": "0.5rem 0.7rem",
            "background": "#ffffff",
            "color": "#111827",
        },
    )
