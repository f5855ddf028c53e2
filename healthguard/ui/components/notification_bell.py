"""NotificationBell: the header's bell on every signed-in page.

- The bell button: my unread alarms (an alarm is an incident; its in-app, push and SMS
  messages count once), live without a reload, on the IEC 60601-1-8 colour of the highest
  unread priority (P0/P1 red and flashing, P2 yellow, P3/P4 cyan) and with that priority in
  words, so colour is never the only signal. A button with ``aria-expanded``; Escape closes
  the panel and gives the focus back to the bell (Radix popover).
- The panel: my recent notifications, one row per alarm, with the incident (number, title,
  ward, bed, patient initials), the priority in words, each channel's state (sent,
  delivered, read, answered, failed), the incident's state and the time in the hospital's
  time zone; "Mark read" per alarm and "Mark all read"; links to the incident and to "My
  alarms" (/my).
- The alarm tone for a new unread P0/P1 and its bounded mute: ``<hg-bell-sound>`` of
  ``assets/bell.js`` (a script file: the Content-Security-Policy forbids inline scripts),
  always mounted next to the bell so it hears changes while the panel is closed.

Data: ``MyAlarmsFeed`` (the person's one shared feed); actions: ``BellState``. An account
without a staff record sees a disabled bell that says why.
"""

from __future__ import annotations

import reflex as rx
from reflex_base.constants.compiler import MemoizationDisposition, MemoizationMode
from reflex_components_core.el.element import Element

from healthguard.notify.bell import BellItem
from healthguard.settings import get_settings
from healthguard.ui import routes, styles
from healthguard.ui.states.feed import WardFeed
from healthguard.ui.states.my_alarms import MyAlarmsFeed
from healthguard.ui.states.notification_bell import NO_STAFF_REASON, BellState

TOUCH = "44px"
TEXT = "#111827"


class BellSound(Element):
    """``<hg-bell-sound>``, defined by ``assets/bell.js``: plays the alarm tone when ``tone``
    changes to a new key, and shows "Tap to enable sound" / "Mute sound 15 min" / "Sound off
    until 14:47" in its own shadow DOM."""

    tag = "hg-bell-sound"
    tone: rx.Var[str]
    message: rx.Var[str]
    zone: rx.Var[str]
    # Never memoized on its own: the memo's generated name would contain the tag's hyphens.
    _memoization_mode = MemoizationMode(disposition=MemoizationDisposition.NEVER)


def _colour(colour: rx.Var, key: str = "badge") -> rx.Var:
    """The IEC 60601-1-8 colour (styles.ALARM_COLOURS) of "red" / "yellow" / "cyan"; the
    same mapping as incident_card.alarm_colour, for a bare colour name."""
    return rx.match(
        colour,
        ("red", styles.ALARM_COLOURS["red"][key]),
        ("yellow", styles.ALARM_COLOURS["yellow"][key]),
        styles.ALARM_COLOURS["cyan"][key],
    )


BELL_BUTTON = {
    "min_width": TOUCH,
    "min_height": TOUCH,
    "padding": "0 0.5rem",
    "background": "transparent",
    "border": "1px solid rgba(255,255,255,0.6)",
    "border_radius": "6px",
    "color": styles.HEADER_TEXT,
    "display": "flex",
    "gap": "0.35rem",
    "align_items": "center",
    "justify_content": "center",
    "cursor": "pointer",
    "font": "inherit",
}
PANEL_BUTTON = {
    "min_height": TOUCH,
    "padding": "0 0.75rem",
    "border": f"1px solid {styles.CARD_BORDER}",
    "border_radius": "6px",
    "background": "#ffffff",
    "color": TEXT,
    "font_weight": "600",
    "font": "inherit",
    "cursor": "pointer",
    "display": "inline-flex",
    "align_items": "center",
    "text_decoration": "none",
}


def _badge() -> rx.Component:
    """The unread count and the highest unread priority in words, on its colour."""
    flashing = MyAlarmsFeed.bell_colour != "cyan"
    return rx.el.span(
        rx.el.span(MyAlarmsFeed.bell_count_text, data_testid="bell-count"),
        rx.el.span(" ", MyAlarmsFeed.bell_top_priority, data_testid="bell-priority"),
        class_name=rx.cond(flashing, "hg-flash", ""),
        data_testid="bell-badge",
        style={
            "background": _colour(MyAlarmsFeed.bell_colour),
            "color": "#ffffff",
            "font_weight": "700",
            "font_size": "0.85rem",
            "padding": "0.1rem 0.45rem",
            "border_radius": "999px",
            "white_space": "nowrap",
            "animation": rx.cond(flashing, "hg-flash 1s step-end infinite", "none"),
        },
    )


def _item(item: BellItem) -> rx.Component:
    return rx.el.li(
        rx.el.div(
            rx.el.span(
                item.priority_label,
                data_testid="bell-item-priority",
                class_name=rx.cond(item.flashing, "hg-flash", ""),
                style={
                    "background": _colour(item.colour),
                    "color": "#ffffff",
                    "font_weight": "700",
                    "padding": "0.1rem 0.4rem",
                    "border_radius": "4px",
                    "font_size": "0.8rem",
                    "animation": rx.cond(item.flashing, "hg-flash 1s step-end infinite", "none"),
                },
            ),
            rx.el.a(
                "#",
                item.number,
                href="/incidents/" + item.incident_id,
                aria_label=rx.Var.create("Open incident ") + item.number.to_string(),
                style={"color": "#1d4ed8", "font_weight": "600"},
            ),
            rx.el.span(item.at, style={"margin_left": "auto", "color": styles.MUTED_TEXT}),
            style={"display": "flex", "gap": "0.5rem", "align_items": "center"},
        ),
        rx.el.div(
            item.title,
            style={"font_weight": "600", "margin": "0.25rem 0", "overflow_wrap": "anywhere"},
        ),
        rx.el.div(item.where, style={"font_size": "0.85rem", "color": styles.MUTED_TEXT}),
        rx.el.div(
            item.channels,
            data_testid="bell-item-channels",
            style={"font_size": "0.85rem", "color": styles.MUTED_TEXT},
        ),
        rx.el.div(
            rx.el.span(
                item.status,
                data_testid="bell-item-status",
                style={"font_weight": rx.cond(item.unread, "700", "400")},
            ),
            " · Incident: ",
            item.incident_status,
            style={"font_size": "0.85rem"},
        ),
        rx.cond(
            item.unread,
            rx.el.button(
                "Mark read",
                on_click=BellState.mark_read(item.incident_id),
                data_testid="bell-mark-read",
                aria_label=rx.Var.create("Mark read: incident ") + item.number.to_string(),
                style={**PANEL_BUTTON, "margin_top": "0.35rem"},
            ),
        ),
        data_testid="bell-item",
        data_incident_id=item.incident_id,
        data_unread=rx.cond(item.unread, "true", "false"),
        style={
            "list_style": "none",
            "padding": "0.5rem",
            "border_left": "5px solid",
            "border_color": _colour(item.colour, "border"),
            "background": rx.cond(item.unread, _colour(item.colour, "bg"), "#ffffff"),
            "border_bottom": f"1px solid {styles.CARD_BORDER}",
        },
    )


def _panel() -> rx.Component:
    return rx.el.div(
        rx.el.div(
            rx.el.strong("My notifications"),
            rx.el.span(MyAlarmsFeed.bell_summary, data_testid="bell-summary"),
            style={"display": "flex", "flex_direction": "column", "gap": "0.15rem"},
        ),
        rx.el.p(
            "Secondary alarm: the bedside monitor stays the primary alarm.",
            style={"font_size": "0.8rem", "color": styles.MUTED_TEXT, "margin": "0.25rem 0"},
        ),
        rx.cond(
            BellState.message != "",
            rx.el.p(
                BellState.message,
                role="alert",
                data_testid="bell-message",
                style={"background": "#fef9c3", "padding": "0.35rem", "border_radius": "4px"},
            ),
        ),
        rx.cond(
            MyAlarmsFeed.load_error != "",
            rx.el.p(MyAlarmsFeed.load_error, role="alert", data_testid="bell-error"),
        ),
        rx.cond(
            MyAlarmsFeed.loaded_at == "",
            rx.el.p("Loading your notifications…", role="status"),
            rx.cond(
                MyAlarmsFeed.bell_items.length() > 0,
                rx.el.ul(
                    rx.foreach(MyAlarmsFeed.bell_items, _item),
                    data_testid="bell-list",
                    style={
                        "padding": 0,
                        "margin": "0.5rem 0",
                        "max_height": "55vh",
                        "overflow_y": "auto",
                    },
                ),
                rx.el.p("No notifications yet.", data_testid="bell-empty"),
            ),
        ),
        rx.el.div(
            rx.el.a(
                "Open my alarms",
                href=routes.MY_ALARMS,
                data_testid="bell-open-my",
                style={**PANEL_BUTTON, "background": styles.HEADER_BG, "color": "#ffffff"},
            ),
            rx.cond(
                MyAlarmsFeed.bell_unread > 0,
                rx.el.button(
                    "Mark all read",
                    on_click=BellState.mark_all_read,
                    data_testid="bell-mark-all-read",
                    style=PANEL_BUTTON,
                ),
            ),
            style={"display": "flex", "gap": "0.5rem", "flex_wrap": "wrap"},
        ),
        style={"color": TEXT},
    )


def _live_bell() -> rx.Component:
    return rx.popover.root(
        rx.popover.trigger(
            rx.el.button(
                rx.icon("bell", size=22, aria_hidden="true"),
                rx.cond(MyAlarmsFeed.bell_unread > 0, _badge()),
                aria_label=MyAlarmsFeed.bell_summary,
                title=MyAlarmsFeed.bell_summary,
                data_testid="bell",
                style=BELL_BUTTON,
            )
        ),
        rx.popover.content(
            _panel(),
            side="bottom",
            align="end",
            aria_label="My notifications",
            data_testid="bell-panel",
            style={
                "width": "min(26rem, calc(100vw - 1rem))",
                "padding": "0.75rem",
                # Opaque: the theme's translucent panel let the page show through on phones.
                "background": "#ffffff",
                "backdrop_filter": "none",
                "box_shadow": "0 8px 24px rgba(0,0,0,0.25)",
            },
        ),
    )


def _disabled_bell() -> rx.Component:
    return rx.el.button(
        rx.icon("bell-off", size=22, aria_hidden="true"),
        rx.el.span("No notifications", style={"font_size": "0.8rem"}),
        disabled=True,
        aria_label=NO_STAFF_REASON,
        title=NO_STAFF_REASON,
        data_testid="bell-disabled",
        style={**BELL_BUTTON, "cursor": "not-allowed"},
    )


def notification_bell() -> rx.Component:
    """The bell, its alarm tone and mute, on every signed-in page."""
    return rx.el.div(
        rx.el.script(src="/bell.js", async_=True),
        rx.cond(
            BellState.no_staff,
            _disabled_bell(),
            rx.fragment(
                _live_bell(),
                BellSound.create(
                    # Keys of what should sound: my newest unread P0/P1 notification, and on
                    # the dashboard the watched ward's newest unacknowledged P0/P1.
                    tone=MyAlarmsFeed.bell_tone_key + " " + WardFeed.alarm_tone_key,
                    message=rx.cond(
                        WardFeed.alarm_tone_key != "",
                        WardFeed.alarm_tone_message,
                        MyAlarmsFeed.bell_summary,
                    ),
                    zone=get_settings().timezone,
                    data_testid="bell-sound-control",
                ),
            ),
        ),
        on_mount=BellState.start,
        style={"display": "flex", "gap": "0.4rem", "align_items": "center"},
    )
