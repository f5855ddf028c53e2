"""Administration (/admin, admin role): integrations and keys, users, escalation policies,
alarm rules; schedules are changed on the staff page (/staff: overrides, roster imports,
rotations). Anyone else signed in reads "not allowed" and no data is loaded."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import routes, styles
from healthguard.ui.components.admin_integrations import admin_integrations
from healthguard.ui.components.admin_policies import admin_policies
from healthguard.ui.components.admin_rules import admin_rules
from healthguard.ui.components.admin_users import admin_users
from healthguard.ui.components.header import header
from healthguard.ui.states.admin_access import REFUSED_TEXT, AdminAccessState

LINK = {
    "display": "inline-flex",
    "align_items": "center",
    "min_height": "44px",
    "padding": "0 0.8rem",
    "border_radius": "6px",
    "border": f"1px solid {styles.CARD_BORDER}",
    "background": "#ffffff",
    "color": styles.HEADER_BG,
    "font_weight": "600",
    "text_decoration": "none",
}


def section_links() -> rx.Component:
    return rx.el.nav(
        rx.el.a("Integrations and keys", href="#integrations", style=LINK),
        rx.el.a("Users", href="#users", style=LINK),
        rx.el.a("Escalation policies", href="#policies", style=LINK),
        rx.el.a("Alarm rules", href="#rules", style=LINK),
        rx.el.a("Schedules and rotas (staff page)", href=routes.STAFF, style=LINK),
        aria_label="Administration sections",
        style={"display": "flex", "gap": "0.5rem", "flex_wrap": "wrap", "margin": "0 0 1rem"},
    )


def admin() -> rx.Component:
    return rx.el.div(
        header(with_ward_selector=False),
        rx.el.main(
            rx.el.h1("Administration", style={"font_size": "1.3rem"}),
            rx.match(
                AdminAccessState.access,
                (
                    "refused",
                    rx.el.p(
                        REFUSED_TEXT,
                        role="alert",
                        data_testid="admin-not-allowed",
                        style={"background": "#fde8e8", "color": "#7f1d1d", "padding": "0.75rem"},
                    ),
                ),
                (
                    "allowed",
                    rx.el.div(
                        section_links(),
                        admin_integrations(),
                        admin_users(),
                        admin_policies(),
                        admin_rules(),
                    ),
                ),
                rx.el.p("Loading…", role="status"),
            ),
            style={
                "padding": "0.75rem 1rem",
                "max_width": styles.PAGE_MAX_WIDTH,
                "margin": "0 auto",
                "box_sizing": "border-box",
                "width": "100%",
            },
        ),
        style={
            "min_height": "100vh",
            "background": "#f3f4f6",
            "color": "#111827",
            "font_family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        },
    )
