"""Changing the rota on the /staff page, for those who may change the shown ward's rota (a
charge nurse for their wards, an administrator): "Add an override" (replace, add or take off a
person for a period), a Remove button on each line of the Overrides list, "Import a roster
(iCal)" from pasted .ics text, and the rotation of a rota (its layers) edited as JSON.
State: ``ScheduleAdminState``."""

from __future__ import annotations

from typing import Any

import reflex as rx

from healthguard.ui import styles
from healthguard.ui.components.admin_common import BUTTON, FIELD, QUIET_BUTTON
from healthguard.ui.states.schedule_admin import ScheduleAdminState
from healthguard.ui.states.staff import OverrideData, StaffPageState

CARD = {
    "background": "#ffffff",
    "border": f"1px solid {styles.CARD_BORDER}",
    "border_radius": "8px",
    "padding": "0.75rem",
    "min_width": "0",
}
LABEL = {
    "display": "flex",
    "flex_direction": "column",
    "gap": "0.2rem",
    "font_weight": "600",
    "min_width": "0",
}
INPUT = {**FIELD, "font_weight": "400"}
ROW = {"display": "flex", "gap": "0.5rem", "flex_wrap": "wrap"}
HALF = {**LABEL, "flex": "1 1 11rem"}
FORM = {"display": "flex", "flex_direction": "column", "gap": "0.6rem"}
KIND_OPTIONS = [
    ("replace", "Replace a person (cover)"),
    ("add", "Add a person (on call too)"),
    ("remove", "Take a person off (nobody fills in)"),
]


def shown() -> Any:
    """The forms are for the ward the page shows, and only for those who may change it."""
    return ScheduleAdminState.can_manage & (ScheduleAdminState.ward == StaffPageState.ward)


def title(text: str) -> rx.Component:
    return rx.el.h2(text, style={"font_size": "1.1rem", "margin": "0 0 0.5rem"})


def note(*children: rx.Component | rx.Var | str) -> rx.Component:
    return rx.el.p(
        *children,
        style={"color": styles.MUTED_TEXT, "font_size": "0.85rem", "margin": "0"},
    )


def outcome(error: Any, problems: Any, notice: Any, testid: str) -> rx.Component:
    """A refusal (with each field's problem in words) as an alert, a success as a status."""
    return rx.fragment(
        rx.cond(
            error != "",
            rx.el.div(
                rx.el.p(error, style={"margin": "0", "font_weight": "700"}),
                rx.el.ul(
                    rx.foreach(
                        problems,
                        lambda p: rx.el.li(p, data_testid=f"{testid}-problem"),
                    ),
                    style={"margin": "0.25rem 0 0", "padding_left": "1.1rem"},
                ),
                role="alert",
                data_testid=f"{testid}-error",
                style={
                    "color": "#7f1d1d",
                    "background": "#fde8e8",
                    "padding": "0.5rem",
                    "border_radius": "6px",
                    "overflow_wrap": "anywhere",
                },
            ),
        ),
        rx.cond(
            notice != "",
            rx.el.p(
                notice,
                role="status",
                data_testid=f"{testid}-notice",
                style={
                    "color": "#065f46",
                    "background": "#ecfdf5",
                    "padding": "0.5rem",
                    "border_radius": "6px",
                    "margin": "0",
                    "overflow_wrap": "anywhere",
                },
            ),
        ),
    )


def schedule_field(select_id: str) -> rx.Component:
    return rx.el.label(
        "Rota",
        rx.el.select(
            rx.foreach(ScheduleAdminState.schedules, lambda s: rx.el.option(s.label, value=s.id)),
            name="schedule_id",
            id=select_id,
            style=INPUT,
        ),
        style=LABEL,
    )


def people_options() -> rx.Component:
    return rx.foreach(ScheduleAdminState.people, lambda p: rx.el.option(p.label, value=p.id))


def kind_field() -> rx.Component:
    return rx.el.label(
        "Kind",
        rx.el.select(
            *[rx.el.option(text, value=value) for value, text in KIND_OPTIONS],
            name="kind",
            id="override-kind",
            value=ScheduleAdminState.kind,
            on_change=ScheduleAdminState.choose_kind,
            style=INPUT,
        ),
        style=LABEL,
    )


def person_fields() -> rx.Component:
    return rx.el.div(
        rx.el.label(
            ScheduleAdminState.person_label,
            rx.el.select(
                rx.el.option("Choose a person", value=""),
                people_options(),
                name="staff_id",
                id="override-person",
                style=INPUT,
            ),
            style=HALF,
        ),
        rx.cond(
            ScheduleAdminState.kind == "replace",
            rx.el.label(
                "Replaces",
                rx.el.select(
                    rx.el.option("Everybody on the rota then", value=""),
                    people_options(),
                    name="replaces_staff_id",
                    id="override-replaces",
                    style=INPUT,
                ),
                style=HALF,
            ),
        ),
        style=ROW,
    )


def time_fields() -> rx.Component:
    return rx.el.div(
        rx.el.label(
            "Start (hospital time)",
            rx.el.input(type="datetime-local", name="starts_at", id="override-start", style=INPUT),
            style=HALF,
        ),
        rx.el.label(
            "End (hospital time)",
            rx.el.input(type="datetime-local", name="ends_at", id="override-end", style=INPUT),
            style=HALF,
        ),
        style=ROW,
    )


def override_form() -> rx.Component:
    return rx.el.section(
        title("Add an override"),
        rx.cond(
            ScheduleAdminState.schedules.length() > 0,  # type: ignore[attr-defined]
            rx.el.form(
                schedule_field("override-schedule"),
                kind_field(),
                person_fields(),
                time_fields(),
                rx.el.label(
                    "Reason (optional)",
                    rx.el.input(name="reason", id="override-reason", max_length=500, style=INPUT),
                    style=LABEL,
                ),
                outcome(
                    ScheduleAdminState.error,
                    ScheduleAdminState.problems,
                    ScheduleAdminState.notice,
                    "override",
                ),
                rx.el.button(
                    "Add the override",
                    type="submit",
                    data_testid="override-submit",
                    style={**BUTTON, "align_self": "flex-start"},
                ),
                key=ScheduleAdminState.form_version,
                on_submit=ScheduleAdminState.add,
                aria_label="Add an override",
                style=FORM,
            ),
            note("Ward ", StaffPageState.ward, " has no rota to override."),
        ),
        data_testid="override-form",
        style=CARD,
    )


def import_form() -> rx.Component:
    return rx.el.section(
        title("Import a roster (iCal)"),
        rx.cond(
            ScheduleAdminState.schedules.length() > 0,  # type: ignore[attr-defined]
            rx.el.form(
                schedule_field("import-schedule"),
                rx.el.label(
                    "Roster (.ics text)",
                    rx.el.textarea(
                        name="ics",
                        id="import-ics",
                        rows="6",
                        placeholder="BEGIN:VCALENDAR …",
                        style={**INPUT, "padding": "0.5rem 0.6rem", "font_family": "monospace"},
                    ),
                    style=LABEL,
                ),
                note(
                    "Open the .ics file in a text editor and paste all of it. Each event "
                    "names the person (an ATTENDEE with their email, or their name as the "
                    "title) and the shift. Within the next year the rostered people take "
                    "over from the rota; earlier imports there are replaced. A file with any "
                    "event that cannot be read imports nothing."
                ),
                outcome(
                    ScheduleAdminState.import_error,
                    ScheduleAdminState.import_problems,
                    ScheduleAdminState.import_notice,
                    "import",
                ),
                rx.el.button(
                    "Import the roster",
                    type="submit",
                    data_testid="import-submit",
                    style={**BUTTON, "align_self": "flex-start"},
                ),
                key=ScheduleAdminState.import_version,
                on_submit=ScheduleAdminState.import_roster,
                aria_label="Import a roster",
                style=FORM,
            ),
            note("Ward ", StaffPageState.ward, " has no rota to import into."),
        ),
        data_testid="import-form",
        style=CARD,
    )


def remove_override_button(o: OverrideData) -> rx.Component:
    """Remove, on a line of the Overrides list (checked against the ward on the server)."""
    return rx.cond(
        shown(),
        rx.el.button(
            "Remove",
            on_click=ScheduleAdminState.remove(o.id),  # type: ignore[operator]
            data_testid="override-remove",
            aria_label="Remove the override: " + o.text + ", " + o.when,
            style={**QUIET_BUTTON, "margin_left": "0.5rem"},
        ),
    )


def staff_ids() -> rx.Component:
    return rx.el.details(
        rx.el.summary(
            "Staff ids of the ward (for participants)",
            style={
                "min_height": "44px",
                "display": "flex",
                "align_items": "center",
                "cursor": "pointer",
            },
        ),
        rx.el.ul(
            rx.foreach(
                ScheduleAdminState.people,
                lambda p: rx.el.li(
                    p.label,
                    ": ",
                    rx.el.code(p.id, style={"overflow_wrap": "anywhere"}),
                    style={"margin": "0.15rem 0"},
                ),
            ),
            style={"padding_left": "1rem", "margin": "0", "font_size": "0.85rem"},
        ),
    )


def rotation_editor() -> rx.Component:
    return rx.el.section(
        title("Rotation (JSON)"),
        rx.cond(
            ScheduleAdminState.schedules.length() > 0,  # type: ignore[attr-defined]
            rx.el.div(
                rx.el.label(
                    "Rota to edit",
                    rx.el.select(
                        rx.el.option("Choose a rota", value=""),
                        rx.foreach(
                            ScheduleAdminState.schedules,
                            lambda s: rx.el.option(s.label, value=s.id),
                        ),
                        id="rotation-schedule",
                        value=ScheduleAdminState.rotation_schedule,
                        on_change=ScheduleAdminState.open_rotation,
                        style=INPUT,
                    ),
                    style=LABEL,
                ),
                outcome(
                    ScheduleAdminState.rotation_error,
                    ScheduleAdminState.rotation_problems,
                    ScheduleAdminState.rotation_notice,
                    "rotation",
                ),
                rx.cond(
                    ScheduleAdminState.rotation_schedule != "",
                    rx.el.form(
                        rx.el.label(
                            "Layers (bottom layer first)",
                            rx.el.textarea(
                                name="layers",
                                id="rotation-json",
                                default_value=ScheduleAdminState.rotation_draft,
                                key=ScheduleAdminState.rotation_version,
                                rows="14",
                                spell_check=False,
                                style={
                                    **INPUT,
                                    "padding": "0.5rem 0.6rem",
                                    "font_family": "monospace",
                                    "font_size": "0.85rem",
                                },
                            ),
                            style=LABEL,
                        ),
                        note(
                            "Each layer's rotation: participants (staff ids, in turn order), "
                            "anchor (the first turn's start, hospital wall clock, e.g. "
                            "2026-03-02T07:00), handoff (shift, daily, weekly or custom) and "
                            "shift_hours (e.g. 12). Saving re-derives the rota's shifts."
                        ),
                        staff_ids(),
                        rx.el.button(
                            "Save the rotation",
                            type="submit",
                            data_testid="rotation-submit",
                            style={**BUTTON, "align_self": "flex-start"},
                        ),
                        on_submit=ScheduleAdminState.save_rotation,
                        aria_label="Edit the rotation",
                        style=FORM,
                    ),
                ),
                style=FORM,
            ),
            note("Ward ", StaffPageState.ward, " has no rota to edit."),
        ),
        data_testid="rotation-form",
        style=CARD,
    )


def remove_outcome() -> rx.Component:
    """What the last Remove did, in words, above the Overrides list."""
    return rx.cond(
        shown(),
        outcome(
            ScheduleAdminState.remove_error,
            rx.Var.create([]),
            ScheduleAdminState.remove_notice,
            "override-remove",
        ),
    )


def rota_changes() -> rx.Component:
    """The forms, as items of the page's grid (loaded on mount and whenever the page shows
    another ward: the hidden element remounts with the ward)."""
    return rx.fragment(
        rx.el.div(
            key=StaffPageState.ward,
            on_mount=ScheduleAdminState.load,
            style={"display": "none"},
        ),
        rx.cond(shown(), rx.fragment(override_form(), import_form(), rotation_editor())),
    )
