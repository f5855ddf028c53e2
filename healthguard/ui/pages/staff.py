"""Staff and schedules (/staff): the roster of a ward for the next 7 days with coverage gaps
highlighted, overrides, shift swaps (a charge nurse approves or declines them), and my
schedule with my calendar."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.components.header import header
from healthguard.ui.components.schedule_admin import (
    remove_outcome,
    remove_override_button,
    rota_changes,
)
from healthguard.ui.components.swap_requests import swap_requests
from healthguard.ui.states.staff import (
    OverrideData,
    RosterCellData,
    RosterDayData,
    StaffPageState,
)

BUTTON = {
    "min_height": "44px",
    "padding": "0 0.9rem",
    "border": "none",
    "border_radius": "6px",
    "font_weight": "700",
    "cursor": "pointer",
    "color": "#ffffff",
}
CARD = {
    "background": "#ffffff",
    "border": f"1px solid {styles.CARD_BORDER}",
    "border_radius": "8px",
    "padding": "0.75rem",
    "min_width": "0",
}
AUTO_COLUMNS = "repeat(auto-fit, minmax(min(100%, 20rem), 1fr))"
GAP = {"bg": "#fde8e8", "border": "#c81e1e", "text": "#7f1d1d"}


def title(text: str) -> rx.Component:
    return rx.el.h2(text, style={"font_size": "1.1rem", "margin": "0 0 0.5rem"})


def ward_picker() -> rx.Component:
    return rx.el.label(
        rx.el.span("Ward", style={"margin_right": "0.5rem", "font_weight": "600"}),
        rx.el.select(
            rx.foreach(StaffPageState.wards, lambda w: rx.el.option(w.name, value=w.code)),
            value=StaffPageState.ward,
            on_change=StaffPageState.select_ward,
            id="roster-ward",
            style={
                "min_height": "44px",
                "padding": "0 0.5rem",
                "border_radius": "6px",
                "border": f"1px solid {styles.CARD_BORDER}",
                "background": "#ffffff",
                "color": "#111827",
                "max_width": "100%",
            },
        ),
        style={"display": "flex", "align_items": "center", "flex_wrap": "wrap"},
    )


def roster_cell(cell: RosterCellData) -> rx.Component:
    return rx.cond(
        cell.is_gap,
        rx.el.div(
            rx.el.div(
                rx.icon("triangle-alert", size=14, aria_hidden="true"),
                rx.el.strong("Coverage gap"),
                style={"display": "flex", "gap": "0.25rem", "align_items": "center"},
            ),
            rx.el.div(cell.message, style={"font_size": "0.8rem"}),
            data_testid="roster-gap",
            role="note",
            style={
                "background": GAP["bg"],
                "color": GAP["text"],
                "border": f"2px solid {GAP['border']}",
                "border_radius": "6px",
                "padding": "0.35rem",
            },
        ),
        rx.el.div(
            rx.el.div(cell.when, style={"font_size": "0.8rem", "color": styles.MUTED_TEXT}),
            rx.el.div(cell.who, style={"font_weight": "600"}),
            rx.el.div(cell.role, style={"font_size": "0.75rem", "color": styles.MUTED_TEXT}),
            data_testid="roster-shift",
            style={
                "border": f"1px solid {styles.CARD_BORDER}",
                "border_radius": "6px",
                "padding": "0.35rem",
                "background": "#f9fafb",
            },
        ),
    )


def roster_day(day: RosterDayData) -> rx.Component:
    return rx.el.div(
        rx.el.h3(
            day.label,
            rx.cond(
                day.gap_count > 0,
                rx.el.span(
                    " · ",
                    day.gap_count,
                    " gap",
                    style={"color": GAP["text"], "font_weight": "700"},
                ),
            ),
            style={"font_size": "0.95rem", "margin": "0 0 0.4rem"},
        ),
        rx.cond(
            day.cells.length() > 0,
            rx.el.div(
                rx.foreach(day.cells, roster_cell),
                style={"display": "flex", "flex_direction": "column", "gap": "0.3rem"},
            ),
            rx.el.p("Nobody on the rota.", style={"color": styles.MUTED_TEXT, "margin": "0"}),
        ),
        data_testid="roster-day",
        data_date=day.iso_date,
        style={"min_width": "10rem", "flex": "1 0 10rem"},
    )


def roster() -> rx.Component:
    return rx.el.section(
        title("Roster, next 7 days"),
        rx.cond(
            StaffPageState.days.length() > 0,
            # The grid scrolls sideways inside its own box on narrow screens, never the page.
            rx.el.div(
                rx.foreach(StaffPageState.days, roster_day),
                data_testid="roster-grid",
                tab_index=0,
                aria_label="Roster by day; scroll sideways for more days",
                role="region",
                style={
                    "display": "flex",
                    "gap": "0.5rem",
                    "overflow_x": "auto",
                    "padding_bottom": "0.5rem",
                    "max_width": "100%",
                },
            ),
            rx.el.p("No roster to show.", style={"color": styles.MUTED_TEXT}),
        ),
        style=CARD,
    )


def gaps() -> rx.Component:
    return rx.cond(
        StaffPageState.gaps_shown,
        rx.el.section(
            title("Coverage gaps"),
            rx.cond(
                StaffPageState.gaps.length() > 0,
                rx.el.ul(
                    rx.foreach(
                        StaffPageState.gaps,
                        lambda g: rx.el.li(
                            rx.icon(
                                "triangle-alert",
                                size=14,
                                aria_hidden="true",
                                style={"display": "inline", "vertical_align": "-2px"},
                            ),
                            " ",
                            g,
                            data_testid="gap-message",
                            style={"color": GAP["text"], "margin": "0.2rem 0"},
                        ),
                    ),
                    style={"padding_left": "1rem", "margin": "0"},
                ),
                rx.el.p(
                    "No coverage gaps in the next 7 days.",
                    data_testid="no-gaps",
                    style={"color": styles.MUTED_TEXT, "margin": "0"},
                ),
            ),
            style={**CARD, "border_color": GAP["border"]},
        ),
    )


def override_item(o: OverrideData) -> rx.Component:
    return rx.el.li(
        rx.el.strong(o.text),
        " · ",
        o.when,
        rx.cond(o.reason != "", rx.el.span(" · ", o.reason, style={"color": styles.MUTED_TEXT})),
        remove_override_button(o),
        data_testid="override",
        style={"margin": "0.25rem 0", "overflow_wrap": "anywhere"},
    )


def overrides() -> rx.Component:
    return rx.el.section(
        title("Overrides"),
        remove_outcome(),
        rx.cond(
            StaffPageState.overrides.length() > 0,
            rx.el.ul(
                rx.foreach(StaffPageState.overrides, override_item),
                style={"padding_left": "1rem", "margin": "0"},
            ),
            rx.el.p("No overrides ahead.", style={"color": styles.MUTED_TEXT, "margin": "0"}),
        ),
        style=CARD,
    )


def my_schedule() -> rx.Component:
    return rx.cond(
        StaffPageState.my_staff_id != "",
        rx.el.section(
            title("My schedule"),
            rx.cond(
                StaffPageState.my_shifts.length() > 0,
                rx.el.ul(
                    rx.foreach(
                        StaffPageState.my_shifts,
                        lambda s: rx.el.li(s, data_testid="my-shift", style={"margin": "0.2rem 0"}),
                    ),
                    style={"padding_left": "1rem", "margin": "0 0 0.5rem"},
                ),
                rx.el.p("No shifts ahead.", style={"color": styles.MUTED_TEXT}),
            ),
            rx.el.button(
                rx.icon("calendar-plus", size=16, aria_hidden="true"),
                " Download my shifts (iCalendar)",
                on_click=StaffPageState.download_calendar,
                data_testid="download-calendar",
                style={
                    **BUTTON,
                    "background": styles.HEADER_BG,
                    "display": "inline-flex",
                    "align_items": "center",
                    "gap": "0.3rem",
                },
            ),
            rx.el.p(
                "Calendar feed: ",
                rx.el.code(StaffPageState.ical_route, style={"overflow_wrap": "anywhere"}),
                ". A calendar app must send an API token (Authorization: Bearer, from "
                "POST /api/v1/auth/token) to read it; it cannot use this browser's sign-in. "
                "Use the download above to import your shifts once.",
                data_testid="ical-route",
                style={"font_size": "0.8rem", "color": styles.MUTED_TEXT, "margin": "0.5rem 0 0"},
            ),
            style=CARD,
        ),
    )


def staff() -> rx.Component:
    return rx.el.div(
        header(with_ward_selector=False),
        rx.el.main(
            rx.el.div(
                rx.el.h1("Staff and schedules", style={"font_size": "1.3rem", "margin": "0"}),
                ward_picker(),
                style={
                    "display": "flex",
                    "justify_content": "space-between",
                    "align_items": "center",
                    "flex_wrap": "wrap",
                    "gap": "0.5rem",
                    "margin": "0.5rem 0",
                },
            ),
            rx.cond(
                StaffPageState.error != "",
                rx.el.p(
                    StaffPageState.error,
                    role="alert",
                    style={"background": "#fee2e2", "color": "#7f1d1d", "padding": "0.5rem"},
                ),
            ),
            rx.cond(
                StaffPageState.message != "",
                rx.el.p(
                    StaffPageState.message,
                    role="status",
                    data_testid="staff-message",
                    style={
                        "background": "#ecfdf5",
                        "color": "#065f46",
                        "padding": "0.5rem",
                        "border_radius": "6px",
                    },
                ),
            ),
            rx.cond(
                ~StaffPageState.loaded,
                rx.el.p("Loading the roster…", role="status"),
                rx.el.div(
                    gaps(),
                    roster(),
                    rx.el.div(
                        my_schedule(),
                        swap_requests(),
                        overrides(),
                        rota_changes(),
                        style={
                            "display": "grid",
                            "grid_template_columns": AUTO_COLUMNS,
                            "gap": "0.75rem",
                        },
                    ),
                    style={"display": "flex", "flex_direction": "column", "gap": "0.75rem"},
                ),
            ),
            style={
                "padding": "0.5rem 1rem 1rem",
                "max_width": styles.PAGE_MAX_WIDTH,
                "margin": "0 auto",
                "box_sizing": "border-box",
                "width": "100%",
            },
        ),
        style={
            "min_height": "100vh",
            "background": "#f3f4f6",
            "font_family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        },
    )
