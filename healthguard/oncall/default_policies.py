"""The escalation policies a hospital gets out of the box, and the check for edited ones.

Shipped defaults (delays count from the start of the policy, see ``oncall.escalation``):

| priority | at 0 s | later | ack timeout |
| --- | --- | --- | --- |
| P0 cardiac arrest | rapid-response team + charge nurse, | 60 s: attending + hospital | 300 s |
|                   | again every 30 s until acknowledged | operator                   |       |
| P1 emergency | primary nurse | 120 s: charge nurse; 300 s: physician on call | 600 s |
| P2 urgent | primary nurse | 300 s: charge nurse; 900 s: physician on call | 900 s |
| P3 review | primary nurse | 1800 s: charge nurse | 1800 s |
| P4 routine | the bedside (primary) nurse only | - | 3600 s |

"Primary nurse" is the person assignment chose (target kind ``assignee``; for a P0 assignment
picks from the rapid-response team, which the P0 policy pages as a whole). "Physician on call"
is the resident on shift on the ward (``ward_role`` resident); a hospital with an on-call
schedule points the step at it (``schedule``). The attending is the ward's (``ward_role``).

Ack timeouts: how long an acknowledged incident may stay unresolved before the person who
acknowledged is reminded (and again every as long): 5 min for a cardiac arrest, where a
silent acknowledgement is dangerous, up to an hour for a routine check. No policy repeats as a
whole (``repeat_count`` 0): the P0 page repeats every 30 s on its own, and the others reach the
physician or the charge nurse, with the fallback chain behind them.

``validate_policy`` checks a policy an administrator edited (JSON as in ``Policy.to_json``)
and answers every problem with the field it is about, e.g. ``steps[1].delay_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from healthguard.incidents.priority import PRIORITIES
from healthguard.models.staff import StaffRole
from healthguard.oncall.escalation import (
    ASSIGNEE,
    ATTENDING,
    CHARGE_NURSE,
    HOSPITAL_OPERATOR,
    PHYSICIAN_ON_CALL,
    RAPID_RESPONSE_TEAM,
    Policy,
    Step,
    StepMode,
    TargetKind,
)

__all__ = [
    "DEFAULT_ACK_TIMEOUT_SECONDS",
    "DEFAULT_POLICIES",
    "MAX_REPEAT_COUNT",
    "MAX_STEPS",
    "MIN_ACK_TIMEOUT_SECONDS",
    "MIN_REPEAT_EVERY_SECONDS",
    "InvalidPolicy",
    "PolicyError",
    "default_policy",
    "parse_policy",
    "validate_policy",
]

DEFAULT_ACK_TIMEOUT_SECONDS: dict[str, int] = {
    "P0": 300,
    "P1": 600,
    "P2": 900,
    "P3": 1800,
    "P4": 3600,
}

MAX_STEPS = 20
MAX_TARGETS_PER_STEP = 20
MAX_REPEAT_COUNT = 10
MIN_REPEAT_EVERY_SECONDS = 10  # a page more often than this is noise, not urgency
MIN_ACK_TIMEOUT_SECONDS = 60
MAX_NAME_LENGTH = 200


DEFAULT_POLICIES: dict[str, Policy] = {
    "P0": Policy(
        name="P0 cardiac arrest",
        priority="P0",
        steps=(
            Step(0, (RAPID_RESPONSE_TEAM, CHARGE_NURSE), repeat_every_seconds=30),
            Step(60, (ATTENDING, HOSPITAL_OPERATOR)),
        ),
        ack_timeout_seconds=DEFAULT_ACK_TIMEOUT_SECONDS["P0"],
    ),
    "P1": Policy(
        name="P1 emergency",
        priority="P1",
        steps=(Step(0, (ASSIGNEE,)), Step(120, (CHARGE_NURSE,)), Step(300, (PHYSICIAN_ON_CALL,))),
        ack_timeout_seconds=DEFAULT_ACK_TIMEOUT_SECONDS["P1"],
    ),
    "P2": Policy(
        name="P2 urgent",
        priority="P2",
        steps=(Step(0, (ASSIGNEE,)), Step(300, (CHARGE_NURSE,)), Step(900, (PHYSICIAN_ON_CALL,))),
        ack_timeout_seconds=DEFAULT_ACK_TIMEOUT_SECONDS["P2"],
    ),
    "P3": Policy(
        name="P3 review",
        priority="P3",
        steps=(Step(0, (ASSIGNEE,)), Step(1800, (CHARGE_NURSE,))),
        ack_timeout_seconds=DEFAULT_ACK_TIMEOUT_SECONDS["P3"],
    ),
    "P4": Policy(
        name="P4 routine",
        priority="P4",
        steps=(Step(0, (ASSIGNEE,)),),
        ack_timeout_seconds=DEFAULT_ACK_TIMEOUT_SECONDS["P4"],
    ),
}


def default_policy(priority: str) -> Policy:
    """The shipped policy of ``priority`` ("P0".."P4"); KeyError names the accepted ones."""
    try:
        return DEFAULT_POLICIES[priority]
    except KeyError:
        raise KeyError(
            f"priority must be one of {', '.join(PRIORITIES)}, got {priority!r}"
        ) from None


# --- validation of admin-edited policies ----------------------------------------------------


@dataclass(frozen=True)
class PolicyError:
    field: str  # e.g. "steps[1].targets[0].kind"
    message: str


class InvalidPolicy(ValueError):
    def __init__(self, errors: list[PolicyError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


_Report = Callable[[str, str], None]  # (field, message)
_ROLES = tuple(r.value for r in StaffRole)
_KINDS = tuple(k.value for k in TargetKind)
_MODES = tuple(m.value for m in StepMode)
_REF_IS_ROLE = {TargetKind.WARD_ROLE, TargetKind.TEAM, TargetKind.ROUND_ROBIN}


def validate_policy(data: Mapping[str, Any] | Policy) -> list[PolicyError]:
    """Every problem of an edited policy, each naming its field; empty when it is valid.

    Checks: a name; priority one of P0..P4 or null; 1 to 20 steps; each step a delay in whole
    seconds, not negative and not less than the step before (delays count from the start of
    the policy); 1 to 20 targets of a known kind, with a ref where the kind needs one (a staff
    id, a schedule name, a staff role for ward_role / team / round_robin, nothing for assignee);
    a known mode; repeat_every_seconds null or at least 10; repeat_count 0 to 10;
    repeat_from_step naming a step; repeat_after_seconds not negative; ack_timeout_seconds
    null or at least 60.
    """
    raw: Mapping[str, Any] = data.to_json() if isinstance(data, Policy) else data
    if not isinstance(raw, Mapping):
        return [PolicyError("policy", "must be an object with name and steps")]
    errors: list[PolicyError] = []

    def error(field_name: str, message: str) -> None:
        errors.append(PolicyError(field_name, message))

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        error("name", "must not be empty")
    elif len(name) > MAX_NAME_LENGTH:
        error("name", f"at most {MAX_NAME_LENGTH} characters (got {len(name)})")
    priority = raw.get("priority")
    if priority is not None and priority not in PRIORITIES:
        error("priority", f"must be one of {', '.join(PRIORITIES)} or null, got {priority!r}")

    steps = raw.get("steps")
    step_count = 0
    if not isinstance(steps, list) or not steps:
        error("steps", "give at least one step")
    elif len(steps) > MAX_STEPS:
        error("steps", f"at most {MAX_STEPS} steps (got {len(steps)})")
    else:
        step_count = len(steps)
        previous_delay: int | None = None
        for i, step in enumerate(steps):
            previous_delay = _check_step(step, f"steps[{i}]", previous_delay, error)

    repeat_count = raw.get("repeat_count", 0)
    if not _is_int(repeat_count) or not 0 <= repeat_count <= MAX_REPEAT_COUNT:
        error("repeat_count", f"a whole number from 0 to {MAX_REPEAT_COUNT}, got {repeat_count!r}")
    repeat_from = raw.get("repeat_from_step", 0)
    if not _is_int(repeat_from):
        error("repeat_from_step", f"a step number, got {repeat_from!r}")
    elif step_count and not 0 <= repeat_from < step_count:
        error(
            "repeat_from_step",
            f"out of range: the policy has steps 0 to {step_count - 1}, got {repeat_from}",
        )
    repeat_after = raw.get("repeat_after_seconds", 300)
    if not _is_int(repeat_after) or repeat_after < 0:
        error("repeat_after_seconds", f"whole seconds, not negative, got {repeat_after!r}")
    timeout = raw.get("ack_timeout_seconds")
    if timeout is not None and (not _is_int(timeout) or timeout < MIN_ACK_TIMEOUT_SECONDS):
        error(
            "ack_timeout_seconds",
            f"null (no reminder) or at least {MIN_ACK_TIMEOUT_SECONDS} s, got {timeout!r}",
        )
    return errors


def parse_policy(data: Mapping[str, Any]) -> Policy:
    """The policy in ``data``, or InvalidPolicy carrying every field error."""
    errors = validate_policy(data)
    if errors:
        raise InvalidPolicy(errors)
    return Policy.from_json(data)


def _check_step(step: Any, where: str, previous_delay: int | None, error: _Report) -> int | None:
    """Check one step; returns its delay (or the previous one when its delay is invalid)."""
    if not isinstance(step, Mapping):
        error(where, "must be an object with delay_seconds and targets")
        return previous_delay
    delay = step.get("delay_seconds")
    result = previous_delay
    if not _is_int(delay):
        error(f"{where}.delay_seconds", f"whole seconds, got {delay!r}")
    elif delay < 0:
        error(f"{where}.delay_seconds", f"must not be negative, got {delay}")
    elif previous_delay is not None and delay < previous_delay:
        error(
            f"{where}.delay_seconds",
            f"{delay} s is before the step above ({previous_delay} s): delays count from the "
            "start of the policy",
        )
    else:
        result = delay
    targets = step.get("targets")
    if not isinstance(targets, list) or not targets:
        error(f"{where}.targets", "give at least one target")
    elif len(targets) > MAX_TARGETS_PER_STEP:
        error(f"{where}.targets", f"at most {MAX_TARGETS_PER_STEP} (got {len(targets)})")
    else:
        for j, target in enumerate(targets):
            _check_target(target, f"{where}.targets[{j}]", error)
    mode = step.get("mode", StepMode.FIRST_ACK_WINS.value)
    if mode not in _MODES:
        error(f"{where}.mode", f"must be one of {', '.join(_MODES)}, got {mode!r}")
    every = step.get("repeat_every_seconds")
    if every is not None and (not _is_int(every) or every < MIN_REPEAT_EVERY_SECONDS):
        error(
            f"{where}.repeat_every_seconds",
            f"null (no repeat) or at least {MIN_REPEAT_EVERY_SECONDS} s, got {every!r}",
        )
    return result


def _check_target(target: Any, where: str, error: _Report) -> None:
    if not isinstance(target, Mapping):
        error(where, "must be an object with kind and ref")
        return
    kind = target.get("kind")
    ref = target.get("ref", "")
    if kind not in _KINDS:
        error(f"{where}.kind", f"unknown target kind {kind!r}; use one of {', '.join(_KINDS)}")
        return
    if not isinstance(ref, str):
        error(f"{where}.ref", f"must be text, got {ref!r}")
        return
    kind = TargetKind(kind)
    if kind in _REF_IS_ROLE and ref not in _ROLES:
        error(f"{where}.ref", f"{kind.value} needs a staff role ({', '.join(_ROLES)}), got {ref!r}")
    elif kind is TargetKind.EVERYONE and ref and ref not in _ROLES:
        error(f"{where}.ref", f"empty (everyone) or a staff role, got {ref!r}")
    elif kind in (TargetKind.PERSON, TargetKind.SCHEDULE) and not ref.strip():
        error(
            f"{where}.ref",
            f"{kind.value} needs a {'staff id' if kind is TargetKind.PERSON else 'schedule name'}",
        )
    elif kind is TargetKind.ASSIGNEE and ref:
        error(f"{where}.ref", f"must be empty for assignee, got {ref!r}")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
