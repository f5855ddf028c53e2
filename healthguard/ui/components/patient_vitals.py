"""The patient page's parts: PatientHeader, PatientVitals (trend charts with NEWS2 bands),
News2Trend, SpO2 scale setting, AlarmPause and the alerts and incidents history."""

from __future__ import annotations

import reflex as rx

from healthguard.clinical.news2_bands import TRENDED
from healthguard.patients.detail import WINDOWS
from healthguard.ui import styles
from healthguard.ui.components.patient_charts import CONFIG
from healthguard.ui.figures import as_figure
from healthguard.ui.states.patient_detail import (
    PAUSE_MINUTES,
    REFRESH_MS,
    HistoryRow,
    LatestRow,
    News2Row,
    PatientDetailState,
)

S = PatientDetailState
CARD = {
    "background": "#ffffff",
    "border": f"1px solid {styles.CARD_BORDER}",
    "border_radius": "8px",
    "padding": "0.75rem",
    "min_width": "0",
    "box_sizing": "border-box",
}
BUTTON = {
    "min_height": "44px",
    "min_width": "44px",
    "padding": "0 0.9rem",
    "border_radius": "6px",
    "border": "1px solid #0b3d5c",
    "background": "#0b3d5c",
    "color": "#ffffff",
    "font_weight": "600",
    "cursor": "pointer",
}
SECONDARY_BUTTON = {**BUTTON, "background": "#ffffff", "color": "#0b3d5c"}
FIELD = {
    "min_height": "44px",
    "padding": "0 0.5rem",
    "border": "1px solid #6b7280",
    "border_radius": "6px",
    "background": "#ffffff",
    "color": "#111827",
    "box_sizing": "border-box",
    "max_width": "100%",
}
FIGURES = {
    "resp_rate": S.fig_resp_rate,
    "spo2": S.fig_spo2,
    "systolic_bp": S.fig_systolic_bp,
    "heart_rate": S.fig_heart_rate,
    "temperature_c": S.fig_temperature_c,
}


def heading(text: str, level: int = 2) -> rx.Component:
    tag = rx.el.h2 if level == 2 else rx.el.h3
    return tag(
        text, style={"font_size": "1.05rem" if level == 2 else "0.95rem", "margin": "0 0 0.5rem"}
    )


def fact(label: str, value: rx.Var | str, testid: str = "") -> rx.Component:
    return rx.el.div(
        rx.el.dt(label, style={"color": styles.MUTED_TEXT, "font_size": "0.8rem"}),
        rx.el.dd(value, style={"margin": 0, "font_weight": "600"}, data_testid=testid or None),
    )


def patient_header() -> rx.Component:
    """Who, where, and the latest values (the patient's own page: full name and MRN for
    someone who may see the patient; the read is audited)."""
    return rx.el.section(
        rx.el.div(
            rx.el.h1(
                S.name,
                rx.el.span(" (", S.initials, ")", style={"color": styles.MUTED_TEXT}),
                data_testid="patient-name",
                style={"font_size": "1.3rem", "margin": 0, "overflow_wrap": "anywhere"},
            ),
            rx.cond(
                S.paused,
                rx.el.span(
                    "ALARMS PAUSED",
                    data_testid="patient-paused-badge",
                    style={
                        "background": "#854d0e",
                        "color": "#ffffff",
                        "padding": "0.15rem 0.5rem",
                        "border_radius": "4px",
                        "font_weight": "700",
                    },
                ),
            ),
            rx.cond(
                S.break_glass,
                rx.el.span(
                    "Opened by break-the-glass (flagged for review)",
                    style={"color": "#7f1d1d", "font_weight": "600"},
                ),
            ),
            style={
                "display": "flex",
                "gap": "0.75rem",
                "align_items": "center",
                "flex_wrap": "wrap",
            },
        ),
        rx.el.dl(
            fact("Ward", S.ward, "patient-ward"),
            fact("Bed", S.bed, "patient-bed"),
            fact("MRN", S.mrn, "patient-mrn"),
            fact("Born", S.date_of_birth),
            fact("Sex", S.sex),
            fact("NEWS2 SpO2 scale", rx.el.span("Scale ", S.spo2_scale), "patient-scale"),
            fact("Oxygen", S.oxygen_text),
            fact("Allergies", rx.cond(S.allergies != "", S.allergies, "None recorded")),
            style={
                "display": "grid",
                "grid_template_columns": "repeat(auto-fill, minmax(min(100%, 9rem), 1fr))",
                "gap": "0.5rem 1rem",
                "margin": "0.6rem 0 0",
            },
        ),
        rx.el.div(
            rx.cond(
                S.latest.length() > 0,
                rx.foreach(S.latest, latest_value),
                rx.el.span("No vital signs recorded yet.", style={"color": styles.MUTED_TEXT}),
            ),
            data_testid="patient-latest",
            style={
                "display": "flex",
                "flex_wrap": "wrap",
                "gap": "0.4rem 1rem",
                "margin_top": "0.6rem",
            },
        ),
        aria_label="Patient",
        style=CARD,
    )


def latest_value(row: LatestRow) -> rx.Component:
    return rx.el.span(
        rx.el.span(row.label, " ", style={"color": styles.MUTED_TEXT}),
        rx.el.strong(row.value),
        rx.el.span(
            " at ",
            row.at,
            style={"color": styles.MUTED_TEXT, "font_size": "0.8rem", "white_space": "nowrap"},
        ),
        style={"max_width": "100%", "overflow_wrap": "anywhere"},
    )


def window_selector() -> rx.Component:
    return rx.el.div(
        rx.el.span("Show the last", id="window-label", style={"margin_right": "0.5rem"}),
        *[
            rx.el.button(
                name.replace("h", " h"),
                on_click=S.choose_window(name),
                aria_pressed=rx.cond(S.window == name, "true", "false"),
                data_testid=f"window-{name}",
                style=rx.cond(S.window == name, BUTTON, SECONDARY_BUTTON),
            )
            for name in WINDOWS
        ],
        role="group",
        aria_labelledby="window-label",
        style={"display": "flex", "gap": "0.4rem", "align_items": "center", "flex_wrap": "wrap"},
    )


def trend_chart(key: str, label: str) -> rx.Component:
    return rx.el.figure(
        rx.el.figcaption(
            rx.el.strong(label),
            rx.el.span(" — ", S.chart_summaries[key], style={"color": styles.MUTED_TEXT}),
            style={"font_size": "0.9rem"},
        ),
        rx.plotly.strict(
            data=as_figure(FIGURES[key]),
            config=CONFIG,
            use_resize_handler=True,
            style={"width": "100%", "height": "210px"},
        ),
        data_testid="trend-" + key.replace("_", "-"),
        style={**CARD, "margin": 0},
    )


def patient_vitals() -> rx.Component:
    """PatientVitals: one chart per vital sign, NEWS2 sub-score bands shaded behind."""
    return rx.el.section(
        rx.el.div(
            heading("Vital signs"),
            window_selector(),
            style={
                "display": "flex",
                "justify_content": "space-between",
                "gap": "0.5rem",
                "flex_wrap": "wrap",
                "align_items": "center",
            },
        ),
        rx.el.p(
            "Shaded: the NEWS2 sub-score of each value range (score 1 yellow, 2 orange, "
            "3 red; the score is written in each band). Line: the mean reading; pale blue: "
            "lowest to highest in each interval.",
            style={"color": styles.MUTED_TEXT, "font_size": "0.85rem", "margin": "0.4rem 0"},
        ),
        rx.el.div(
            *[trend_chart(key, label) for key, label, _ in TRENDED],
            style={
                "display": "grid",
                "grid_template_columns": "repeat(auto-fill, minmax(min(100%, 26rem), 1fr))",
                "gap": "0.6rem",
            },
        ),
        aria_label="Vital sign trends",
        style=CARD,
    )


def news2_row(row: News2Row) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row.at),
        rx.el.td(rx.el.strong(row.total)),
        rx.el.td(row.risk),
        rx.el.td(row.partial),
    )


def news2_trend() -> rx.Component:
    return rx.el.section(
        heading("NEWS2 over time"),
        rx.el.p(
            "Filled dots: complete scores. Open diamonds: partial scores (some parameters not "
            "measured; the real score may be higher). Shaded: medium (5-6) and high (7+) risk.",
            style={"color": styles.MUTED_TEXT, "font_size": "0.85rem", "margin": "0 0 0.4rem"},
        ),
        rx.plotly.strict(
            data=as_figure(S.fig_news2),
            config=CONFIG,
            use_resize_handler=True,
            style={"width": "100%", "height": "230px"},
        ),
        rx.cond(
            S.news2_rows.length() > 0,
            rx.el.div(
                rx.el.table(
                    rx.el.thead(
                        rx.el.tr(
                            rx.el.th("Time"), rx.el.th("NEWS2"), rx.el.th("Risk"), rx.el.th("Score")
                        )
                    ),
                    rx.el.tbody(rx.foreach(S.news2_rows, news2_row)),
                    style={"width": "100%", "border_collapse": "collapse", "text_align": "left"},
                ),
                style={"overflow_x": "auto"},
            ),
            rx.el.p("No NEWS2 scores in this window.", style={"color": styles.MUTED_TEXT}),
        ),
        data_testid="news2-trend",
        aria_label="NEWS2 over time",
        style=CARD,
    )


def scale_setting() -> rx.Component:
    """The NEWS2 SpO2 scale: shown to everyone, changed by clinical decision makers only."""
    return rx.el.section(
        heading("NEWS2 SpO2 scale"),
        rx.el.p(
            "Now: ",
            rx.el.strong("Scale ", S.spo2_scale),
            ". Scale 2 is only for confirmed hypercapnic respiratory failure with a "
            "prescribed SpO2 target of 88-92 %.",
            style={"margin": "0 0 0.5rem"},
        ),
        rx.cond(
            S.can_set_scale,
            rx.el.form(
                rx.el.label(
                    "Scale",
                    rx.el.select(
                        rx.el.option("Scale 1 (standard)", value="1"),
                        rx.el.option("Scale 2 (target 88-92 %)", value="2"),
                        name="scale",
                        default_value="2",
                        id="scale-choice",
                        style=FIELD,
                    ),
                    style={"display": "flex", "flex_direction": "column", "gap": "0.2rem"},
                ),
                rx.el.label(
                    "Clinical decision (required for Scale 2)",
                    rx.el.input(
                        name="reason",
                        id="scale-reason",
                        max_length=500,
                        placeholder="e.g. Confirmed type 2 respiratory failure; target 88-92 %",
                        style={**FIELD, "width": "100%"},
                    ),
                    style={
                        "display": "flex",
                        "flex_direction": "column",
                        "gap": "0.2rem",
                        "flex": "1 1 14rem",
                    },
                ),
                rx.el.button(
                    "Set scale",
                    type="submit",
                    disabled=S.saving,
                    data_testid="set-scale",
                    style=BUTTON,
                ),
                on_submit=S.set_scale,
                reset_on_submit=True,
                style={
                    "display": "flex",
                    "gap": "0.5rem",
                    "flex_wrap": "wrap",
                    "align_items": "flex-end",
                },
            ),
            rx.el.p(
                "Only a physician or the rapid-response team, on their own wards, may change it.",
                data_testid="scale-not-allowed",
                style={"color": styles.MUTED_TEXT},
            ),
        ),
        data_testid="scale-setting",
        aria_label="NEWS2 SpO2 scale",
        style=CARD,
    )


def alarm_pause() -> rx.Component:
    return rx.el.section(
        heading("Pause alarms"),
        rx.cond(
            S.paused,
            rx.el.div(
                rx.el.p(
                    S.pause_summary,
                    data_testid="pause-summary",
                    role="status",
                    style={"margin": "0 0 0.5rem"},
                ),
                rx.cond(
                    S.can_pause,
                    rx.el.button(
                        "End the pause now",
                        on_click=S.end_pause,
                        data_testid="end-pause",
                        style=SECONDARY_BUTTON,
                    ),
                ),
            ),
            rx.el.p(
                "Alarms are on. A pause (bathing, transport) stops P1-P4 alarms of this patient "
                "from opening incidents for a limited time; they are still recorded. A P0 "
                "(cardiac arrest) always alarms.",
                style={"margin": "0 0 0.5rem", "font_size": "0.9rem"},
            ),
        ),
        rx.cond(
            S.can_pause,
            rx.el.form(
                rx.el.label(
                    "For",
                    rx.el.select(
                        *[rx.el.option(f"{m} minutes", value=str(m)) for m in PAUSE_MINUTES],
                        name="minutes",
                        default_value="20",
                        id="pause-minutes",
                        style=FIELD,
                    ),
                    style={"display": "flex", "flex_direction": "column", "gap": "0.2rem"},
                ),
                rx.el.label(
                    "Reason (required)",
                    rx.el.input(
                        name="reason",
                        id="pause-reason",
                        max_length=500,
                        placeholder="e.g. Bathing, transport to CT",
                        style={**FIELD, "width": "100%"},
                    ),
                    style={
                        "display": "flex",
                        "flex_direction": "column",
                        "gap": "0.2rem",
                        "flex": "1 1 14rem",
                    },
                ),
                rx.el.button(
                    rx.cond(S.paused, "Replace the pause", "Pause alarms"),
                    type="submit",
                    disabled=S.saving,
                    data_testid="pause-alarms",
                    style=BUTTON,
                ),
                on_submit=S.pause_alarms,
                reset_on_submit=True,
                style={
                    "display": "flex",
                    "gap": "0.5rem",
                    "flex_wrap": "wrap",
                    "align_items": "flex-end",
                },
            ),
            rx.el.p(
                "You may not pause this patient's alarms.",
                style={"color": styles.MUTED_TEXT},
            ),
        ),
        data_testid="alarm-pause",
        aria_label="Pause alarms",
        style=CARD,
    )


def history_row(row: HistoryRow) -> rx.Component:
    colour = rx.match(
        row.colour,
        ("red", styles.ALARM_COLOURS["red"]["badge"]),
        ("yellow", styles.ALARM_COLOURS["yellow"]["badge"]),
        styles.ALARM_COLOURS["cyan"]["badge"],
    )
    return rx.el.li(
        rx.el.span(
            row.priority_label,
            style={
                "background": colour,
                "color": "#ffffff",
                "padding": "0.1rem 0.4rem",
                "border_radius": "4px",
                "font_weight": "700",
                "font_size": "0.8rem",
                "white_space": "nowrap",
            },
        ),
        rx.el.span(row.at, style={"color": styles.MUTED_TEXT, "white_space": "nowrap"}),
        rx.el.span(
            rx.cond(row.kind == "incident", "Incident", "Alert"), style={"font_weight": "600"}
        ),
        rx.cond(
            row.href != "",
            rx.el.a(
                rx.cond(row.number != "", row.number + " ", ""),
                row.text,
                href=row.href,
                data_testid="history-incident-link",
                style={
                    "color": "#1d4ed8",
                    "min_height": "44px",
                    "display": "inline-flex",
                    "align_items": "center",
                },
            ),
            rx.el.span(row.text),
        ),
        rx.el.span("(", row.status, ")", style={"color": styles.MUTED_TEXT}),
        data_testid="history-item",
        style={
            "display": "flex",
            "flex_wrap": "wrap",
            "gap": "0.2rem 0.5rem",
            "align_items": "center",
            "padding": "0.35rem 0",
            "border_bottom": f"1px solid {styles.CARD_BORDER}",
            "overflow_wrap": "anywhere",
        },
    )


def patient_history() -> rx.Component:
    return rx.el.section(
        heading("Alerts and incidents"),
        rx.cond(
            S.history.length() > 0,
            rx.el.ul(
                rx.foreach(S.history, history_row),
                style={"list_style": "none", "padding": 0, "margin": 0},
            ),
            rx.el.p(
                "No alerts or incidents for this patient.",
                data_testid="history-empty",
                style={"color": styles.MUTED_TEXT},
            ),
        ),
        aria_label="Alerts and incidents history",
        style=CARD,
    )


def refresh_clock() -> rx.Component:
    """A hidden clock whose tick re-reads the patient (live without a reload)."""
    return rx.moment(
        format="HH:mm:ss",
        interval=REFRESH_MS,
        on_change=S.refresh,
        style={"display": "none"},
    )
