"""PatientDrawer: a patient of the bed board opened over the dashboard (tablets at the
bedside keep their place in the ward view); the full page is one tap away."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.states.patient_detail import PatientDetailState as S

TOUCH = {
    "min_height": "44px",
    "min_width": "44px",
    "display": "inline-flex",
    "align_items": "center",
}


def patient_drawer(body: rx.Component) -> rx.Component:
    """`body`: the patient view (healthguard.ui.pages.patient.patient_body)."""
    return rx.cond(
        S.drawer_open,
        rx.fragment(
            # Escape closes the drawer (keyboard users); listening only while it is open.
            rx.window_event_listener(on_key_down=S.drawer_key),
            rx.el.div(
                on_click=S.close_drawer,
                aria_hidden="true",
                style={
                    "position": "fixed",
                    "inset": "0",
                    "background": "rgba(17, 24, 39, 0.45)",
                    "z_index": "40",
                },
            ),
            rx.el.aside(
                rx.el.div(
                    rx.el.h2("Patient", style={"margin": "0", "font_size": "1.2rem"}),
                    rx.el.a(
                        "Open the full patient page",
                        href=S.drawer_href,
                        # A plain page load: the drawer's state stays with the dashboard.
                        reload_document=True,
                        data_testid="drawer-full-page",
                        style={**TOUCH, "color": "#1d4ed8"},
                    ),
                    rx.el.button(
                        "Close",
                        on_click=S.close_drawer,
                        auto_focus=True,
                        aria_label="Close the patient panel",
                        data_testid="drawer-close",
                        style={**TOUCH, **styles.DARK_BUTTON, "justify_content": "center"},
                    ),
                    style={
                        "display": "flex",
                        "gap": "0.75rem",
                        "align_items": "center",
                        "justify_content": "space-between",
                        "flex_wrap": "wrap",
                        "margin_bottom": "0.5rem",
                    },
                ),
                body,
                role="dialog",
                aria_modal="true",
                aria_label="Patient details",
                data_testid="patient-drawer",
                style={
                    "position": "fixed",
                    "top": "0",
                    "right": "0",
                    "bottom": "0",
                    "width": "min(100%, 46rem)",
                    "box_sizing": "border-box",
                    "overflow_y": "auto",
                    "overflow_x": "hidden",
                    "overflow_wrap": "anywhere",
                    "background": "#f3f4f6",
                    "color": "#111827",
                    "padding": "0.75rem 1rem",
                    "box_shadow": "-4px 0 16px rgba(0, 0, 0, 0.25)",
                    "z_index": "50",
                    "border_left": f"1px solid {styles.CARD_BORDER}",
                },
            ),
        ),
    )
