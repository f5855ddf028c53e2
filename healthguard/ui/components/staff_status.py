"""StaffStatus: who is on shift now in the ward the dashboard shows, their availability (icon
and words), open load by priority, skills (expiring ones marked), and the next shift change
(hospital local time). Re-read every 15 s and whenever the dashboard's ward changes."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import routes, styles
from healthguard.ui.states.dashboard import ALL_WARDS, DashboardState
from healthguard.ui.states.staff import StaffStatusRow, StaffStatusState

REFRESH_MS = 15_000

# Availability: icon, text colour, background (text contrast >= 4.5:1; the words carry it).
_AVAILABILITY = {
    "available": ("circle-check", "#065f46", "#d1fae5"),
    "busy": ("activity", "#7c2d12", "#ffedd5"),
    "on_break": ("coffee", "#1e3a8a", "#dbeafe"),
    "off": ("moon", "#374151", "#e5e7eb"),
}


def availability_badge(row: StaffStatusRow) -> rx.Component:
    def badge(icon: str, text: str, bg: str) -> rx.Component:
        return rx.el.span(
            rx.icon(icon, size=16, aria_hidden="true"),
            rx.el.span(row.availability_text),
            data_testid="staff-availability",
            style={
                "display": "inline-flex",
                "gap": "0.3rem",
                "align_items": "center",
                "color": text,
                "background": bg,
                "padding": "0.1rem 0.45rem",
                "border_radius": "999px",
                "font_size": "0.85rem",
                "font_weight": "600",
            },
        )

    return rx.match(
        row.availability,
        *[(key, badge(icon, text, bg)) for key, (icon, text, bg) in _AVAILABILITY.items()],
        badge("circle-help", "#374151", "#e5e7eb"),
    )


def staff_row(row: StaffStatusRow) -> rx.Component:
    return rx.el.li(
        rx.el.div(
            rx.el.strong(row.name),
            rx.el.span(" · ", row.role, style={"color": styles.MUTED_TEXT}),
            rx.cond(
                DashboardState.selected_ward == ALL_WARDS,
                rx.el.span(" · ", row.ward, style={"color": styles.MUTED_TEXT}),
            ),
            style={"flex": "1 1 10rem", "min_width": "0", "overflow_wrap": "anywhere"},
        ),
        rx.el.div(
            availability_badge(row),
            rx.cond(
                row.until_text != "",
                rx.el.span(row.until_text, style={"font_size": "0.8rem"}),
            ),
            style={
                "display": "flex",
                "gap": "0.4rem",
                "align_items": "center",
                "flex_wrap": "wrap",
            },
        ),
        rx.el.div(
            rx.el.span("Open: ", style={"color": styles.MUTED_TEXT}),
            rx.el.span(
                row.load_text,
                data_testid="staff-load",
                style=rx.cond(
                    row.urgent, {"color": "#7f1d1d", "font_weight": "700"}, {"color": "#111827"}
                ),
            ),
            rx.el.span(" · ", row.shift_text, style={"color": styles.MUTED_TEXT}),
            style={"font_size": "0.85rem", "width": "100%"},
        ),
        rx.el.div(
            rx.foreach(
                row.skills,
                lambda s: rx.el.span(
                    s,
                    style={
                        "border": f"1px solid {styles.CARD_BORDER}",
                        "border_radius": "4px",
                        "padding": "0 0.3rem",
                        "font_size": "0.75rem",
                    },
                ),
            ),
            rx.foreach(
                row.expiring,
                lambda s: rx.el.span(
                    rx.icon("triangle-alert", size=12, aria_hidden="true"),
                    s,
                    data_testid="skill-expiring",
                    style={
                        "display": "inline-flex",
                        "gap": "0.2rem",
                        "align_items": "center",
                        "background": "#fef9c3",
                        "color": "#713f12",
                        "border": "1px solid #ca8a04",
                        "border_radius": "4px",
                        "padding": "0 0.3rem",
                        "font_size": "0.75rem",
                        "font_weight": "600",
                    },
                ),
            ),
            style={"display": "flex", "gap": "0.25rem", "flex_wrap": "wrap", "width": "100%"},
        ),
        data_testid="staff-status-row",
        data_staff_id=row.staff_id,
        style={
            "display": "flex",
            "flex_wrap": "wrap",
            "gap": "0.3rem 0.6rem",
            "align_items": "center",
            "background": "#ffffff",
            "border": f"1px solid {styles.CARD_BORDER}",
            "border_radius": "6px",
            "padding": "0.5rem",
            "list_style": "none",
        },
    )


def staff_status() -> rx.Component:
    return rx.el.section(
        rx.el.div(
            rx.el.h2(
                "Staff on shift (",
                StaffStatusState.on_shift_count,
                ")",
                style={"font_size": "1.1rem", "margin": "0.5rem 0"},
            ),
            rx.el.a(
                "Roster and swaps",
                href=routes.STAFF,
                data_testid="staff-page-link",
                style={
                    "min_height": "44px",
                    "display": "inline-flex",
                    "align_items": "center",
                    "color": "#1d4ed8",
                    "text_decoration": "underline",
                },
            ),
            style={
                "display": "flex",
                "justify_content": "space-between",
                "align_items": "center",
                "flex_wrap": "wrap",
                "gap": "0.5rem",
            },
        ),
        # Mounted while the panel shows another ward than the dashboard (first load, a ward
        # change): loads the dashboard's ward at once.
        rx.cond(
            StaffStatusState.ward != DashboardState.selected_ward,
            rx.el.div(on_mount=StaffStatusState.load, style={"display": "none"}),
        ),
        rx.moment(
            format="HH:mm:ss",
            interval=REFRESH_MS,
            on_change=StaffStatusState.load,
            style={"display": "none"},
        ),
        rx.cond(
            StaffStatusState.error != "",
            rx.el.p(
                StaffStatusState.error,
                role="alert",
                style={"background": "#fee2e2", "color": "#7f1d1d", "padding": "0.4rem"},
            ),
        ),
        rx.cond(
            ~StaffStatusState.loaded,
            rx.el.p("Loading staff…", role="status"),
            rx.fragment(
                rx.cond(
                    StaffStatusState.next_change != "",
                    rx.el.p(
                        rx.icon("clock", size=14, aria_hidden="true"),
                        "Next shift change:",
                        rx.el.strong(StaffStatusState.next_change, data_testid="next-change"),
                        style={
                            "margin": "0 0 0.4rem",
                            "font_size": "0.9rem",
                            "display": "flex",
                            "align_items": "center",
                            "gap": "0.25rem",
                            "flex_wrap": "wrap",
                        },
                    ),
                ),
                rx.cond(
                    StaffStatusState.rows.length() > 0,
                    rx.el.ul(
                        rx.foreach(StaffStatusState.rows, staff_row),
                        data_testid="staff-status",
                        style={
                            "display": "flex",
                            "flex_direction": "column",
                            "gap": "0.4rem",
                            "padding": "0",
                            "margin": "0",
                        },
                    ),
                    rx.el.p(
                        "Nobody is on shift in this ward right now.",
                        data_testid="staff-status-empty",
                        style={"color": styles.MUTED_TEXT},
                    ),
                ),
            ),
        ),
        aria_label="Staff on shift",
        data_testid="staff-status-panel",
        style={"flex": "1 1 22rem", "min_width": "0"},
    )
