"""BedCard: one bed of the ward board with its patient's latest vitals and NEWS2 (banded by
risk in colour AND words, partial scores marked, an arrow against the score before)."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.states.feed import BedCardData
from healthguard.ui.states.patient_detail import PatientDetailState

# NEWS2 risk bands (RCP chart colours): text on background keeps WCAG AA (>= 4.5:1).
NEWS2_RISK_COLOURS: dict[str, dict[str, str]] = {
    "low": {"bg": "#dcfce7", "border": "#15803d", "text": "#14532d"},
    "low-medium": {"bg": "#fef9c3", "border": "#ca8a04", "text": "#713f12"},
    "medium": {"bg": "#ffedd5", "border": "#ea580c", "text": "#7c2d12"},
    "high": {"bg": "#fee2e2", "border": "#b91c1c", "text": "#7f1d1d"},
}

PARTIAL_HINT = (
    "Partial score: some parameters are missing or too old, so the real score may be higher"
)


def risk_colour(bed: BedCardData, key: str) -> rx.Var:
    """The colour of the bed's NEWS2 risk band for `key` bg / border / text."""
    return rx.match(
        bed.news2_risk,
        *((risk, colours[key]) for risk, colours in NEWS2_RISK_COLOURS.items() if risk != "low"),
        NEWS2_RISK_COLOURS["low"][key],
    )


def news2_badge(bed: BedCardData) -> rx.Component:
    """The latest NEWS2 with its risk in words, "partial" when it is, and the trend arrow."""
    return rx.el.div(
        rx.el.span(
            bed.news2,
            data_testid="bed-news2",
            data_risk=bed.news2_risk,
            style={
                "background": risk_colour(bed, "bg"),
                "border": "1px solid",
                "border_color": risk_colour(bed, "border"),
                "color": risk_colour(bed, "text"),
                "font_weight": "700",
                "padding": "0 0.35rem",
                "border_radius": "4px",
                "white_space": "nowrap",
            },
        ),
        rx.cond(
            bed.news2_partial,
            rx.el.span(
                "partial",
                title=PARTIAL_HINT,
                data_testid="bed-news2-partial",
                style={
                    "font_size": "0.75rem",
                    "border": "1px dashed #374151",
                    "color": "#374151",
                    "padding": "0 0.3rem",
                    "border_radius": "4px",
                },
            ),
        ),
        rx.cond(
            bed.news2_trend != "",
            rx.el.span(
                bed.news2_trend,
                role="img",
                aria_label=bed.news2_trend_words,
                title=bed.news2_trend_words,
                data_testid="bed-news2-trend",
                style={"font_weight": "600", "white_space": "nowrap"},
            ),
        ),
        style={
            "display": "flex",
            "gap": "0.4rem",
            "align_items": "center",
            "flex_wrap": "wrap",
            "font_size": "0.85rem",
            "margin_top": "0.25rem",
        },
    )


def bed_card(bed: BedCardData) -> rx.Component:
    return rx.el.article(
        rx.el.div(
            rx.el.strong(bed.ward, " ", bed.bed),
            rx.cond(
                bed.occupied,
                rx.el.a(
                    bed.patient,
                    href=bed.patient_href,
                    # Opens the patient in the drawer over the board (the page stays one
                    # tap away); without scripts the link opens the patient page.
                    on_click=[rx.prevent_default, PatientDetailState.open_drawer(bed.patient_id)],
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
            bed.has_news2,
            news2_badge(bed),
            rx.cond(
                bed.occupied,
                rx.el.div(
                    "No current NEWS2",
                    data_testid="bed-news2-none",
                    style={
                        "font_size": "0.85rem",
                        "margin_top": "0.25rem",
                        "color": styles.MUTED_TEXT,
                    },
                ),
            ),
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
