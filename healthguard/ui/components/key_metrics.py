"""KeyMetrics: the dashboard's key-metrics panel (Plotly charts, each with its numbers in
words and tables next to it, so that nobody depends on the chart's colours or on seeing it)."""

from __future__ import annotations

import reflex as rx

from healthguard.incidents.priority import PRIORITIES, PRIORITY_STYLES
from healthguard.ui import styles
from healthguard.ui.components.incident_card import alarm_colour
from healthguard.ui.figures import as_figure
from healthguard.ui.states.dashboard import DashboardState
from healthguard.ui.states.key_metrics import (
    REFRESH_MS,
    HourTableRow,
    KeyMetricsState,
    ResponseTableRow,
)

CHART_CONFIG = {"displayModeBar": False, "responsive": True, "displaylogo": False}
CARD_STYLE = {
    "background": "#ffffff",
    "border": f"1px solid {styles.CARD_BORDER}",
    "border_radius": "6px",
    "padding": "0.6rem 0.8rem",
    "min_width": "0",
    "color": "#111827",
}
CELL = {"padding": "0.2rem 0.4rem", "text_align": "left", "border_bottom": "1px solid #e5e7eb"}
NUMBER_CELL = {**CELL, "text_align": "right"}


def chart(figure: rx.Var, test_id: str) -> rx.Component:
    """A chart, hidden from screen readers: its numbers are in the text next to it."""
    return rx.el.div(
        rx.plotly.basic(
            data=as_figure(figure),
            config=CHART_CONFIG,
            use_resize_handler=True,
            style={"width": "100%", "height": "100%"},
        ),
        aria_hidden="true",
        data_testid=test_id,
        style={"width": "100%", "height": "280px", "min_width": "0", "overflow": "hidden"},
    )


def card(title: str, test_id: str, *children: rx.Component) -> rx.Component:
    return rx.el.article(
        rx.el.h3(title, style={"font_size": "1rem", "margin": "0 0 0.35rem"}),
        *children,
        data_testid=test_id,
        style=CARD_STYLE,
    )


def priority_badge(row: ResponseTableRow) -> rx.Component:
    return rx.el.span(
        row.label,
        style={
            "background": alarm_colour(row, "badge"),  # type: ignore[arg-type]
            "color": "#ffffff",
            "font_weight": "700",
            "padding": "0.1rem 0.4rem",
            "border_radius": "4px",
            "white_space": "nowrap",
        },
    )


def response_table(rows: rx.Var, caption: str, test_id: str) -> rx.Component:
    def row(r: ResponseTableRow) -> rx.Component:
        return rx.el.tr(
            rx.el.th(priority_badge(r), scope="row", style=CELL),
            rx.el.td(r.today, style=CELL),
            rx.el.td(r.previous, style=CELL),
            data_priority=r.priority,
        )

    return rx.el.table(
        rx.el.caption(caption, style={"text_align": "left", "color": styles.MUTED_TEXT}),
        rx.el.thead(
            rx.el.tr(
                rx.el.th("Priority", scope="col", style=CELL),
                rx.el.th("Today: median / p90", scope="col", style=CELL),
                rx.el.th("Previous 7 days: median / p90", scope="col", style=CELL),
            )
        ),
        rx.el.tbody(rx.foreach(rows, row)),
        data_testid=test_id,
        style={"border_collapse": "collapse", "width": "100%", "font_size": "0.85rem"},
    )


def response_card(
    title: str, what: str, figure: rx.Var, rows: rx.Var, test_id: str
) -> rx.Component:
    return card(
        title,
        test_id,
        rx.cond(
            rows.length() > 0,
            rx.fragment(
                chart(figure, f"{test_id}-chart"),
                response_table(
                    rows,
                    f"{what} by priority, incidents opened today and in the previous 7 days "
                    "(median and 90th percentile; n = incidents counted).",
                    f"{test_id}-table",
                ),
            ),
            rx.el.p(
                f"No {what.lower()} to show: no such incident today or in the previous 7 days.",
                style={"color": styles.MUTED_TEXT},
            ),
        ),
    )


def hourly_card() -> rx.Component:
    def hour_row(r: HourTableRow) -> rx.Component:
        return rx.el.tr(
            rx.el.th(r.hour, scope="row", style=CELL),
            rx.foreach(r.counts, lambda c: rx.el.td(c, style=NUMBER_CELL)),
            rx.el.td(r.total, style=NUMBER_CELL),
        )

    return card(
        "Alerts per hour (last 24 h)",
        "key-metrics-hourly",
        rx.cond(
            KeyMetricsState.incidents_24h == 0,
            rx.el.p(
                "No incidents in the last 24 h.",
                data_testid="key-metrics-empty",
                style={"color": styles.MUTED_TEXT},
            ),
            rx.fragment(
                chart(KeyMetricsState.hourly_figure, "key-metrics-hourly-chart"),
                rx.el.p(KeyMetricsState.hourly_summary, data_testid="key-metrics-hourly-summary"),
                rx.el.details(
                    rx.el.summary(
                        "Alerts per hour and priority (table)",
                        style={"cursor": "pointer", "min_height": "44px", "line_height": "44px"},
                    ),
                    rx.el.div(
                        rx.el.table(
                            rx.el.thead(
                                rx.el.tr(
                                    rx.el.th("Hour", scope="col", style=CELL),
                                    *[
                                        rx.el.th(
                                            PRIORITY_STYLES[p].label, scope="col", style=NUMBER_CELL
                                        )
                                        for p in PRIORITIES
                                    ],
                                    rx.el.th("All", scope="col", style=NUMBER_CELL),
                                )
                            ),
                            rx.el.tbody(rx.foreach(KeyMetricsState.hour_rows, hour_row)),
                            style={"border_collapse": "collapse", "font_size": "0.8rem"},
                        ),
                        style={"overflow_x": "auto", "max_width": "100%"},
                    ),
                ),
            ),
        ),
    )


def pair_card(
    title: str, test_id: str, figure: rx.Var, summary: rx.Var, *numbers: rx.Component
) -> rx.Component:
    return card(
        title,
        test_id,
        rx.el.p(
            *numbers,
            style={"display": "flex", "gap": "1rem", "flex_wrap": "wrap", "margin": "0 0 0.25rem"},
        ),
        chart(figure, f"{test_id}-chart"),
        rx.el.p(summary, data_testid=f"{test_id}-summary"),
    )


def big_number(label: str, value: rx.Var, test_id: str) -> rx.Component:
    return rx.el.span(
        rx.el.span(label, ": ", style={"color": styles.MUTED_TEXT}),
        rx.el.strong(value, data_testid=test_id, style={"font_size": "1.25rem"}),
    )


def grafana_link() -> rx.Component:
    return rx.cond(
        KeyMetricsState.grafana_url != "",
        rx.el.a(
            "Open the Grafana dashboards",
            href=KeyMetricsState.grafana_url,
            target="_blank",
            rel="noopener noreferrer",
            data_testid="grafana-link",
            style={
                "color": "#0b3d5c",
                "text_decoration": "underline",
                "display": "inline-flex",
                "align_items": "center",
                "min_height": "44px",
            },
        ),
    )


def key_metrics() -> rx.Component:
    """KeyMetrics: the panel, for the ward the dashboard shows; refreshed every 30 s and when
    the selected ward changes."""
    return rx.el.section(
        rx.el.h2("Key metrics", style={"font_size": "1.1rem", "margin": "0.5rem 0"}),
        # A hidden clock re-reads the numbers every REFRESH_MS. It fires when it mounts too,
        # and it is keyed by the selected ward: a change of ward remounts it, so the numbers
        # of the new ward are read at once.
        rx.moment(
            # The ward in the (hidden) text too: a new text fires on_change even if the
            # memoised clock kept its instance.
            format="[" + DashboardState.selected_ward + "] HH:mm:ss",
            interval=REFRESH_MS,
            on_change=KeyMetricsState.refresh,
            key=DashboardState.selected_ward,
            style={"display": "none"},
        ),
        rx.el.p(
            rx.cond(
                KeyMetricsState.updated_at != "",
                rx.el.span(
                    KeyMetricsState.ward_name,
                    " — updated ",
                    KeyMetricsState.updated_at_local,
                    f", refreshed every {REFRESH_MS // 1000} s. ",
                    "Incidents count in the hour and day they were opened.",
                ),
            ),
            " ",
            grafana_link(),
            style={"color": styles.MUTED_TEXT, "font_size": "0.85rem", "margin": "0 0 0.5rem"},
        ),
        rx.cond(
            KeyMetricsState.error != "",
            rx.el.p(
                KeyMetricsState.error,
                role="alert",
                data_testid="key-metrics-error",
                style={
                    "background": "#fee2e2",
                    "color": "#7f1d1d",
                    "padding": "0.5rem",
                    "border_radius": "6px",
                },
            ),
        ),
        rx.cond(
            KeyMetricsState.updated_at == "",
            rx.cond(
                KeyMetricsState.error == "",
                rx.el.p("Loading key metrics…", role="status"),
            ),
            rx.el.div(
                hourly_card(),
                response_card(
                    "Time to acknowledge (MTTA)",
                    "Time to acknowledge",
                    KeyMetricsState.acknowledge_figure,
                    KeyMetricsState.acknowledge_rows,
                    "key-metrics-acknowledge",
                ),
                response_card(
                    "Time to resolve (MTTR)",
                    "Time to resolve",
                    KeyMetricsState.resolve_figure,
                    KeyMetricsState.resolve_rows,
                    "key-metrics-resolve",
                ),
                pair_card(
                    "Escalations",
                    "key-metrics-escalations",
                    KeyMetricsState.escalations_figure,
                    KeyMetricsState.escalations_summary,
                    big_number("Today", KeyMetricsState.escalations_today, "escalations-today"),
                    big_number(
                        "Previous 7 days, a day",
                        KeyMetricsState.escalations_per_day,
                        "escalations-per-day",
                    ),
                ),
                pair_card(
                    "False alarms",
                    "key-metrics-false-alarms",
                    KeyMetricsState.false_alarm_figure,
                    KeyMetricsState.false_alarm_summary,
                    big_number(
                        "Today", KeyMetricsState.false_alarm_share_today, "false-alarm-share-today"
                    ),
                    big_number(
                        "Previous 7 days",
                        KeyMetricsState.false_alarm_share_previous,
                        "false-alarm-share-previous",
                    ),
                ),
                data_testid="key-metrics-grid",
                style={
                    "display": "grid",
                    "grid_template_columns": "repeat(auto-fill, minmax(min(100%, 26rem), 1fr))",
                    "gap": "0.75rem",
                },
            ),
        ),
        aria_label="Key metrics",
        data_testid="key-metrics",
        data_load_ms=KeyMetricsState.load_ms,  # the server time of the last load, to measure
        style={"margin_top": "1rem", "min_width": "0"},
    )


KeyMetrics = key_metrics
