"""Shift swaps on the /staff page: "Request a swap" (one of my shifts ahead, the colleague who
takes it, optionally one of theirs on the same rota taken in return), "My swap requests" (I
asked / I am asked, with their state; withdraw mine), and for a charge nurse "Swaps in your
wards" with Approve and Decline. State: ``SwapsState``."""

from __future__ import annotations

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.components.admin_common import BUTTON, DANGER_BUTTON, FIELD, QUIET_BUTTON
from healthguard.ui.states.swaps import SwapItem, SwapsState

CARD = {
    "background": "#ffffff",
    "border": f"1px solid {styles.CARD_BORDER}",
    "border_radius": "8px",
    "padding": "0.75rem",
    "min_width": "0",
}
WARN = {"color": "#7f1d1d", "margin": "0.2rem 0", "font_size": "0.85rem"}
LABEL = {"display": "flex", "flex_direction": "column", "gap": "0.2rem", "font_weight": "600"}
LIST = {"padding": "0", "margin": "0"}
ITEM = {
    "border_top": f"1px solid {styles.CARD_BORDER}",
    "padding": "0.5rem 0",
    "list_style": "none",
}


def title(text: str) -> rx.Component:
    return rx.el.h2(text, style={"font_size": "1.1rem", "margin": "0 0 0.5rem"})


def muted(text: str) -> rx.Component:
    return rx.el.p(text, style={"color": styles.MUTED_TEXT, "margin": "0"})


def warning_line(text: rx.Var, testid: str) -> rx.Component:
    return rx.el.p(
        rx.icon(
            "triangle-alert",
            size=14,
            aria_hidden="true",
            style={"display": "inline", "vertical_align": "-2px"},
        ),
        " ",
        text,
        data_testid=testid,
        style=WARN,
    )


def outcome_messages() -> rx.Component:
    """The last action's outcome in words (a refusal as an alert, a success as a status),
    across the whole width of the page's grid, above the swap sections."""
    return rx.el.div(
        rx.cond(
            SwapsState.error != "",
            rx.el.p(
                SwapsState.error,
                role="alert",
                data_testid="swap-error",
                style={
                    "color": "#7f1d1d",
                    "background": "#fde8e8",
                    "padding": "0.5rem",
                    "border_radius": "6px",
                    "margin": "0 0 0.5rem",
                    "overflow_wrap": "anywhere",
                },
            ),
        ),
        rx.cond(
            SwapsState.notice != "",
            rx.el.p(
                SwapsState.notice,
                role="status",
                data_testid="swap-notice",
                style={
                    "color": "#065f46",
                    "background": "#ecfdf5",
                    "padding": "0.5rem",
                    "border_radius": "6px",
                    "margin": "0 0 0.5rem",
                    "overflow_wrap": "anywhere",
                },
            ),
        ),
        rx.foreach(SwapsState.warnings, lambda w: warning_line(w, "swap-request-warning")),
        style={"grid_column": "1 / -1", "min_width": "0"},
    )


def choice_field(
    label: str, first: str, options: rx.Component, name: str, **select_props
) -> rx.Component:
    """A labelled select of the request form: ``first`` is the empty choice's words."""
    return rx.el.label(
        label,
        rx.el.select(
            rx.el.option(first, value=""),
            options,
            name=name,
            id=f"swap-{name.removesuffix('_id').replace('_', '-')}",
            style={**FIELD, "font_weight": "400"},
            **select_props,
        ),
        style=LABEL,
    )


def shift_field() -> rx.Component:
    return choice_field(
        "Your shift",
        "Choose a shift",
        rx.foreach(SwapsState.shifts, lambda s: rx.el.option(s.label, value=s.id)),
        "shift",
        value=SwapsState.chosen_shift,
        on_change=SwapsState.choose_shift,
    )


def colleague_field() -> rx.Component:
    return choice_field(
        "Colleague who takes it",
        "Choose a colleague",
        rx.foreach(SwapsState.colleagues, lambda c: rx.el.option(c.name, value=c.id)),
        "colleague_id",
        value=SwapsState.chosen_colleague,
        on_change=SwapsState.choose_colleague,
        disabled=SwapsState.chosen_shift == "",
    )


def in_return_field() -> rx.Component:
    """Optional: one of the colleague's shifts on the same rota, taken in return."""
    return choice_field(
        "In return (optional)",
        "Nothing: give the shift away",
        rx.foreach(SwapsState.return_shifts, lambda s: rx.el.option(s.label, value=s.id)),
        "in_return",
        disabled=SwapsState.chosen_colleague == "",
    )


def request_form() -> rx.Component:
    return rx.cond(
        SwapsState.can_request,
        rx.el.section(
            title("Request a swap"),
            rx.cond(
                SwapsState.shifts.length() > 0,  # type: ignore[attr-defined]
                rx.el.form(
                    shift_field(),
                    colleague_field(),
                    in_return_field(),
                    rx.el.p(
                        "A charge nurse of the ward approves or declines it. A swap that "
                        "leaves someone less than ",
                        SwapsState.min_rest_text,
                        " hours of rest between two shifts is refused at approval.",
                        style={"color": styles.MUTED_TEXT, "font_size": "0.85rem", "margin": "0"},
                    ),
                    rx.el.button(
                        "Ask for the swap",
                        type="submit",
                        data_testid="swap-request-submit",
                        style={**BUTTON, "align_self": "flex-start"},
                    ),
                    on_submit=SwapsState.request,
                    reset_on_submit=True,
                    aria_label="Request a swap",
                    style={"display": "flex", "flex_direction": "column", "gap": "0.6rem"},
                ),
                muted("You have no shifts on a rota ahead to give away."),
            ),
            data_testid="swap-request",
            style=CARD,
        ),
    )


def status_line(swap: SwapItem) -> rx.Component:
    return rx.el.div(
        rx.el.strong(swap.status_text, data_testid="swap-status"),
        style={"margin": "0.25rem 0", "overflow_wrap": "anywhere"},
    )


def my_swap_item(swap: SwapItem) -> rx.Component:
    return rx.el.li(
        rx.el.div(
            rx.el.strong(swap.direction, data_testid="swap-direction"),
            rx.el.span(" · ", swap.ward, " · ", style={"color": styles.MUTED_TEXT}),
            swap.text,
            style={"overflow_wrap": "anywhere"},
        ),
        status_line(swap),
        rx.foreach(swap.warnings, lambda w: warning_line(w, "swap-warning")),
        rx.cond(
            swap.can_withdraw,
            rx.el.button(
                "Withdraw",
                on_click=SwapsState.withdraw(swap.id),  # type: ignore[operator]
                data_testid="swap-withdraw",
                aria_label="Withdraw this swap request",
                style=QUIET_BUTTON,
            ),
        ),
        data_testid="my-swap",
        data_swap_id=swap.id,
        style=ITEM,
    )


def my_swaps() -> rx.Component:
    return rx.cond(
        SwapsState.can_request | (SwapsState.mine.length() > 0),  # type: ignore[attr-defined]
        rx.el.section(
            title("My swap requests"),
            rx.cond(
                SwapsState.mine.length() > 0,  # type: ignore[attr-defined]
                rx.el.ul(rx.foreach(SwapsState.mine, my_swap_item), style=LIST),
                muted("No swap requests of yours."),
            ),
            data_testid="my-swaps",
            style=CARD,
        ),
    )


def decide_controls(swap: SwapItem) -> rx.Component:
    return rx.el.div(
        rx.el.button(
            "Approve",
            on_click=SwapsState.approve(swap.id),  # type: ignore[operator]
            data_testid="swap-approve",
            style={**BUTTON, "background": "#15803d"},
        ),
        rx.el.form(
            rx.el.input(type="hidden", name="swap_id", value=swap.id),
            rx.el.label(
                "Reason to decline",
                rx.el.input(
                    name="reason",
                    required=True,
                    max_length=500,
                    data_testid="swap-decline-reason",
                    style={**FIELD, "font_weight": "400"},
                ),
                style={**LABEL, "font_size": "0.85rem", "flex": "1 1 12rem"},
            ),
            rx.el.button("Decline", type="submit", data_testid="swap-decline", style=DANGER_BUTTON),
            on_submit=SwapsState.decline,
            reset_on_submit=True,
            style={
                "display": "flex",
                "gap": "0.5rem",
                "align_items": "flex-end",
                "flex_wrap": "wrap",
                "flex": "1 1 16rem",
            },
        ),
        style={"display": "flex", "gap": "0.5rem", "align_items": "flex-end", "flex_wrap": "wrap"},
    )


def ward_swap_item(swap: SwapItem) -> rx.Component:
    return rx.el.li(
        rx.el.div(
            rx.el.span(swap.ward, " · ", style={"color": styles.MUTED_TEXT}),
            swap.text,
            style={"overflow_wrap": "anywhere"},
        ),
        status_line(swap),
        rx.foreach(swap.warnings, lambda w: warning_line(w, "swap-warning")),
        rx.cond(swap.can_decide, decide_controls(swap)),
        data_testid="swap",
        data_swap_id=swap.id,
        style=ITEM,
    )


def ward_swaps() -> rx.Component:
    return rx.cond(
        SwapsState.ward_swaps.length() > 0,  # type: ignore[attr-defined]
        rx.el.section(
            title("Swaps in your wards"),
            rx.el.ul(rx.foreach(SwapsState.ward_swaps, ward_swap_item), style=LIST),
            data_testid="ward-swaps",
            style=CARD,
        ),
    )


def swap_requests() -> rx.Component:
    """The page's swap sections, as items of the page's grid (loaded when they appear)."""
    return rx.fragment(
        rx.el.div(on_mount=SwapsState.load, style={"display": "none"}),
        rx.cond(
            (SwapsState.error != "") | (SwapsState.notice != ""),
            outcome_messages(),
        ),
        request_form(),
        my_swaps(),
        ward_swaps(),
    )
