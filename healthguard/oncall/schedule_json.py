"""Schedule layers as JSON (the ``schedules.layers`` column and the API) and back.

Pure: no I/O. ``layers_to_json`` writes what ``layers_from_json`` reads; ``layers_from_json``
checks data typed by an admin or a charge nurse and returns either the layers or EVERY
problem, each naming its field the way the API names it (``layers.0.rotation.anchor``)::

    [
      {
        "name": "Day and night",
        "mode": "replace",                      # or "add" (a second nurse alongside)
        "rotation": {
          "participants": ["<staff id>", "<staff id>"],
          "anchor": "2026-03-02T07:00",         # wall clock in the schedule's zone, no offset
          "handoff": "shift",                   # shift | daily | weekly | custom
          "shift_hours": 12,                    # shift only
          "custom_hours": []                    # custom only, e.g. [10, 14]
        },
        "windows": [                            # optional; empty: all the time
          {"start": "19:00", "end": "07:00", "weekdays": [0, 1, 2, 3, 4, 5, 6]}
        ]
      }
    ]

The rules themselves are ``healthguard.oncall.rotations``' (this module only reads the
shape and turns their ``ValueError`` into field-named problems).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from healthguard.oncall.rotations import (
    EVERY_DAY,
    MAX_LAYERS,
    MAX_PARTICIPANTS,
    Handoff,
    Layer,
    LayerMode,
    Rotation,
    TimeWindow,
)

MAX_LAYER_NAME = 100
MAX_WINDOWS = 14
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (``loc``, as in a pydantic error) and why."""

    loc: Loc
    message: str

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.loc) or "body"

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class LayersInvalid(ValueError):
    """The layers cannot be used; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems: tuple[Problem, ...] = tuple(problems)


# --- to JSON --------------------------------------------------------------------------------


def _hours_json(hours: float) -> float | int:
    return int(hours) if float(hours).is_integer() else float(hours)


def rotation_to_json(rotation: Rotation) -> dict[str, Any]:
    return {
        "participants": [str(p) for p in rotation.participants],
        "anchor": rotation.anchor.isoformat(timespec="minutes")
        if rotation.anchor.second == 0 and rotation.anchor.microsecond == 0
        else rotation.anchor.isoformat(),
        "handoff": rotation.handoff.value,
        "shift_hours": None if rotation.shift_hours is None else _hours_json(rotation.shift_hours),
        "custom_hours": [_hours_json(h) for h in rotation.custom_hours],
    }


def window_to_json(window: TimeWindow) -> dict[str, Any]:
    return {
        "start": window.start.strftime("%H:%M"),
        "end": window.end.strftime("%H:%M"),
        "weekdays": sorted(window.weekdays),
    }


def layer_to_json(layer: Layer) -> dict[str, Any]:
    return {
        "name": layer.name,
        "mode": layer.mode.value,
        "rotation": rotation_to_json(layer.rotation),
        "windows": [window_to_json(w) for w in layer.windows],
    }


def layers_to_json(layers: Sequence[Layer]) -> list[dict[str, Any]]:
    return [layer_to_json(layer) for layer in layers]


# --- from JSON ------------------------------------------------------------------------------


def layers_from_json(data: Any, *, loc: Loc = ("layers",)) -> tuple[Layer, ...]:
    """The layers of ``data`` (a JSON list), or ``LayersInvalid`` naming every problem."""
    problems: list[Problem] = []
    if not isinstance(data, list):
        raise LayersInvalid([Problem(loc, "must be a list of layers")])
    if not data:
        raise LayersInvalid([Problem(loc, "give at least one layer")])
    if len(data) > MAX_LAYERS:
        raise LayersInvalid([Problem(loc, f"at most {MAX_LAYERS} layers (got {len(data)})")])
    layers: list[Layer] = []
    for index, item in enumerate(data):
        layer = _layer(item, (*loc, index), problems)
        if layer is not None:
            layers.append(layer)
    if problems:
        raise LayersInvalid(problems)
    return tuple(layers)


def participants_of(layers: Sequence[Layer]) -> set[uuid.UUID]:
    """Every staff id named in the layers."""
    return {p for layer in layers for p in layer.rotation.participants}


def _layer(item: Any, loc: Loc, problems: list[Problem]) -> Layer | None:
    if not isinstance(item, Mapping):
        problems.append(Problem(loc, "must be an object with name, rotation and windows"))
        return None
    before = len(problems)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem((*loc, "name"), 'must not be empty (e.g. "Day and night")'))
    elif len(name) > MAX_LAYER_NAME:
        problems.append(Problem((*loc, "name"), f"at most {MAX_LAYER_NAME} characters"))
    mode_raw = item.get("mode", LayerMode.REPLACE.value)
    mode = LayerMode.REPLACE
    try:
        mode = LayerMode(mode_raw)
    except ValueError:
        problems.append(Problem((*loc, "mode"), f"must be replace or add, got {mode_raw!r}"))
    rotation = _rotation(item.get("rotation"), (*loc, "rotation"), problems)
    windows = _windows(item.get("windows", []), (*loc, "windows"), problems)
    unknown = sorted(set(item) - {"name", "mode", "rotation", "windows"})
    if unknown:
        problems.append(Problem(loc, f"unknown fields {unknown}"))
    if len(problems) > before or rotation is None or windows is None:
        return None
    return Layer(name=str(name).strip(), rotation=rotation, windows=windows, mode=mode)


_ROTATION_FIELDS = ("participants", "anchor", "handoff", "shift_hours", "custom_hours")


def _rotation(raw: Any, loc: Loc, problems: list[Problem]) -> Rotation | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem(loc, "must be an object with participants, anchor and handoff"))
        return None
    before = len(problems)
    unknown = sorted(set(raw) - set(_ROTATION_FIELDS))
    if unknown:
        problems.append(Problem(loc, f"unknown fields {unknown}"))
    participants: list[uuid.UUID] = []
    people = raw.get("participants")
    if not isinstance(people, list) or not people:
        problems.append(
            Problem((*loc, "participants"), "give at least one staff id, in turn order")
        )
    elif len(people) > MAX_PARTICIPANTS:
        problems.append(
            Problem((*loc, "participants"), f"at most {MAX_PARTICIPANTS} people in a rotation")
        )
    else:
        for i, person in enumerate(people):
            try:
                participants.append(uuid.UUID(str(person)))
            except ValueError:
                problems.append(Problem((*loc, "participants", i), f"{person!r} is not a staff id"))
    anchor: datetime | None = None
    anchor_raw = raw.get("anchor")
    try:
        anchor = datetime.fromisoformat(str(anchor_raw)) if anchor_raw is not None else None
    except ValueError:
        anchor = None
    if anchor is None:
        problems.append(
            Problem(
                (*loc, "anchor"),
                "the first turn's start on the ward's wall clock, e.g. \"2026-03-02T07:00\"",
            )
        )
    elif anchor.tzinfo is not None:
        problems.append(
            Problem(
                (*loc, "anchor"),
                "a wall-clock time without an offset (the schedule's time zone applies), "
                'e.g. "2026-03-02T07:00"',
            )
        )
        anchor = None
    handoff_raw = raw.get("handoff", Handoff.SHIFT.value)
    handoff: Handoff | None = None
    try:
        handoff = Handoff(handoff_raw)
    except ValueError:
        problems.append(
            Problem(
                (*loc, "handoff"),
                f"must be one of shift, daily, weekly, custom; got {handoff_raw!r}",
            )
        )
    shift_hours = _number(raw.get("shift_hours"), (*loc, "shift_hours"), problems)
    custom_raw = raw.get("custom_hours") or []
    custom: list[float] = []
    if not isinstance(custom_raw, list):
        problems.append(Problem((*loc, "custom_hours"), "must be a list of hours, e.g. [10, 14]"))
    else:
        for i, value in enumerate(custom_raw):
            number = _number(value, (*loc, "custom_hours", i), problems)
            if number is not None:
                custom.append(number)
    if len(problems) > before or anchor is None or handoff is None:
        return None
    try:
        return Rotation(
            participants=tuple(participants),
            anchor=anchor,
            handoff=handoff,
            shift_hours=shift_hours,
            custom_hours=tuple(custom),
        )
    except ValueError as exc:
        problems.append(_located(exc, loc))
        return None


def _number(value: Any, loc: Loc, problems: list[Problem]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(Problem(loc, f"must be a number of hours, got {value!r}"))
        return None
    return float(value)


def _located(exc: ValueError, loc: Loc) -> Problem:
    """A rotations ValueError ("anchor: ...", "turn length ...") at its field."""
    text = str(exc)
    head, sep, rest = text.partition(": ")
    if sep and head in _ROTATION_FIELDS:
        return Problem((*loc, head), rest)
    if text.startswith(("turn length", "hours")):
        return Problem((*loc, "shift_hours"), text)
    if head == "shift_hours, custom_hours":
        return Problem((*loc, "handoff"), rest)
    return Problem(loc, text)


def _windows(raw: Any, loc: Loc, problems: list[Problem]) -> tuple[TimeWindow, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(Problem(loc, "must be a list of time windows (or empty: all the time)"))
        return None
    if len(raw) > MAX_WINDOWS:
        problems.append(Problem(loc, f"at most {MAX_WINDOWS} windows"))
        return None
    windows: list[TimeWindow] = []
    ok = True
    for i, item in enumerate(raw):
        here = (*loc, i)
        if not isinstance(item, Mapping):
            problems.append(Problem(here, 'must be {"start": "19:00", "end": "07:00"}'))
            ok = False
            continue
        start = _clock(item.get("start"), (*here, "start"), problems)
        end = _clock(item.get("end"), (*here, "end"), problems)
        weekdays_raw = item.get("weekdays", sorted(EVERY_DAY))
        weekdays: set[int] = set()
        if (
            not isinstance(weekdays_raw, list)
            or not weekdays_raw
            or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in weekdays_raw
            )
        ):
            problems.append(Problem((*here, "weekdays"), "one or more of 0 (Monday) to 6 (Sunday)"))
            ok = False
        else:
            weekdays = set(weekdays_raw)
        if start is None or end is None or not weekdays:
            ok = False
            continue
        windows.append(TimeWindow(start=start, end=end, weekdays=frozenset(weekdays)))
    return tuple(windows) if ok else None


def _clock(value: Any, loc: Loc, problems: list[Problem]) -> time | None:
    try:
        parsed = time.fromisoformat(str(value)) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None:
        problems.append(Problem(loc, f'a wall-clock time "HH:MM", got {value!r}'))
        return None
    return parsed
