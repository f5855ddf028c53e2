"""My alarms: the phone quick-action view (390 x 844 first; any width works).

The signed-in person's open incidents, P0 first, each with ACK, ESCALATE and DECLINE buttons
big enough for one thumb (at least 48 px high, full width). Live: the list follows the
person's own feed.

"Turn on alerts on this phone": the ``<hg-push-control>`` custom element of
``assets/push.js`` (it registers the service worker ``assets/sw.js`` and the Web Push
subscription; browser APIs that need the tap itself, so it is plain JavaScript rather than
an event handler). It gets a short-lived API token from the state, renewed on each tap.

"When the network drops": the ``<hg-offline-list>`` custom element of ``assets/offline.js``
keeps the last known list (the state's ``offline_kit``: the cards and single-use answer
tokens) on the phone; offline it hides the live list (class ``hg-live-list``), shows a banner
with the time of the last update and the kept list, queues taps and replays them when the
network is back (see docs/USER_GUIDE.md "When the network drops")."""

from __future__ import annotations

import reflex as rx
from reflex_base.constants.compiler import MemoizationDisposition, MemoizationMode
from reflex_components_core.el.element import Element

from healthguard.ui import styles
from healthguard.ui.components.header import header
from healthguard.ui.components.incident_card import alarm_colour, incident_page_link
from healthguard.ui.pages.dashboard import SECONDARY_ALARM_NOTE
from healthguard.ui.states.feed import IncidentCardData
from healthguard.ui.states.my_alarms import MyAlarmsFeed, MyAlarmsState

BUTTON = {
    "min_height": "48px",
    "flex": "1 1 0",
    "font_size": "1rem",
    "font_weight": "700",
    "border": "none",
    "border_radius": "8px",
    "cursor": "pointer",
    "color": "#ffffff",
}


class PushControl(Element):
    """``<hg-push-control>``, defined by ``assets/push.js``: the "Turn on alerts on this
    phone" button and its state in words (on / off / blocked by the browser / not
    supported), in its own shadow DOM."""

    tag = "hg-push-control"
    token: rx.Var[str]
    # Never memoized on its own: the memo's generated name would contain the tag's hyphens.
    _memoization_mode = MemoizationMode(disposition=MemoizationDisposition.NEVER)


def push_control() -> rx.Component:
    return rx.fragment(
        rx.el.script(src="/push.js", async_=True),
        rx.cond(
            ~MyAlarmsState.no_staff,
            PushControl.create(
                token=MyAlarmsState.push_token,
                on_click=MyAlarmsState.renew_push_token,
                data_testid="push-control",
            ),
        ),
    )


class OfflineList(Element):
    """``<hg-offline-list>``, defined by ``assets/offline.js``: the offline banner, the kept
    list with its buttons and what became of the answers queued offline. A click on it (the
    element dispatches one itself when its kit is out of date) renews the kit."""

    tag = "hg-offline-list"
    kit: rx.Var[str]
    _memoization_mode = MemoizationMode(disposition=MemoizationDisposition.NEVER)


def offline_list() -> rx.Component:
    return rx.fragment(
        rx.el.script(src="/offline.js", async_=True),
        OfflineList.create(
            kit=MyAlarmsState.offline_kit,
            on_click=MyAlarmsState.renew_offline_kit,
            data_testid="offline-control",
        ),
    )


def _answer_button(
    label: str, action: str, card: IncidentCardData, background: str
) -> rx.Component:
    return rx.el.button(
        label,
        on_click=MyAlarmsState.answer(card.id, action),
        data_testid=f"answer-{action}",
        aria_label=f"{label} incident",
        style={**BUTTON, "background": background},
    )


def alarm(card: IncidentCardData) -> rx.Component:
    return rx.el.article(
        rx.el.div(
            rx.el.span(
                card.priority_label,
                style={
                    "background": alarm_colour(card, "badge"),
                    "color": "#ffffff",
                    "font_weight": "700",
                    "padding": "0.15rem 0.5rem",
                    "border_radius": "4px",
                },
            ),
            rx.el.span("#", card.number, style={"color": styles.MUTED_TEXT}),
            rx.el.span(card.status, data_testid="alarm-status"),
            style={
                "display": "flex",
                "gap": "0.5rem",
                "align_items": "center",
                "flex_wrap": "wrap",
            },
        ),
        # The title opens the incident page (patient details, trigger, timeline): one tap.
        rx.el.h2(incident_page_link(card), style={"margin": "0.35rem 0", "font_size": "1.1rem"}),
        rx.el.p(
            card.location,
            rx.cond(card.patient != "", rx.el.span(" · Patient ", card.patient)),
            " · ",
            rx.moment(card.opened_at, from_now=True, interval=15000),
            style={"margin": "0 0 0.5rem", "font_size": "0.95rem"},
        ),
        rx.cond(
            card.status == "Not acknowledged",
            rx.el.div(
                _answer_button("ACK", "acknowledge", card, "#15803d"),
                _answer_button("ESCALATE", "escalate", card, "#b45309"),
                _answer_button("DECLINE", "decline", card, "#4b5563"),
                style={"display": "flex", "gap": "0.5rem"},
            ),
            rx.el.div(
                _answer_button("ESCALATE", "escalate", card, "#b45309"),
                style={"display": "flex", "gap": "0.5rem"},
            ),
        ),
        data_testid="my-alarm",
        data_incident_id=card.id,
        style={
            "background": alarm_colour(card, "bg"),
            "border_left": "6px solid",
            "border_color": alarm_colour(card, "border"),
            "border_radius": "8px",
            "padding": "0.75rem",
        },
    )


def my_alarms() -> rx.Component:
    return rx.el.div(
        header(),
        rx.el.main(
            rx.el.h1(
                "My alarms ",
                # The live count: hidden offline, when the kept list shows instead.
                rx.el.span("(", MyAlarmsFeed.open_count, ")", class_name="hg-live-list"),
                style={"font_size": "1.25rem", "margin": "0.5rem 0"},
            ),
            rx.cond(
                MyAlarmsState.no_staff,
                rx.el.p("Your account is not linked to a staff member.", role="alert"),
            ),
            push_control(),
            offline_list(),
            rx.cond(
                MyAlarmsState.message != "",
                rx.el.p(
                    MyAlarmsState.message,
                    role="status",
                    data_testid="my-alarms-message",
                    style={"background": "#ecfdf5", "padding": "0.5rem", "border_radius": "6px"},
                ),
            ),
            rx.cond(
                MyAlarmsFeed.load_error != "",
                rx.el.p(MyAlarmsFeed.load_error, role="alert"),
            ),
            rx.el.div(
                rx.cond(
                    MyAlarmsFeed.loaded_at == "",
                    rx.el.p("Loading…", role="status"),
                    rx.cond(
                        MyAlarmsFeed.incidents.length() > 0,
                        rx.el.div(
                            rx.foreach(MyAlarmsFeed.incidents, alarm),
                            data_testid="my-alarms",
                            style={
                                "display": "flex",
                                "flex_direction": "column",
                                "gap": "0.75rem",
                            },
                        ),
                        rx.el.p("No open alarms for you.", data_testid="my-alarms-empty"),
                    ),
                ),
                # Hidden by assets/offline.js while offline (the kept list shows instead).
                class_name="hg-live-list",
            ),
            rx.el.p(
                SECONDARY_ALARM_NOTE,
                style={"color": styles.MUTED_TEXT, "font_size": "0.8rem", "margin": "1rem 0"},
            ),
            style={"padding": "0.5rem 0.75rem", "max_width": "40rem", "margin": "0 auto"},
        ),
        style={
            "min_height": "100vh",
            "background": "#f3f4f6",
            "font_family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        },
    )
