"""Reliance on other controls: an attribute decided by the recorded conclusions of the controls it relies on.

An automated control is tested on one instance and relies on the IT general controls for the rest of the
period (:mod:`workbench.procedures.automated_control`). Its ``itgc_reliance`` attribute is not a tester's
judgement on evidence: it is the engagement's own conclusions on those controls, read from the results store
(:func:`workbench.judgements.recorded_conclusion`):

* every control relied on is concluded effective (no exceptions noted, exceptions noted, not occurring;
  Type 1: suitably designed and implemented): **pass**;
* one is concluded not effective (not operating effectively; Type 1: not suitably designed, not implemented):
  **fail**, a finding that the automated control cannot be relied on without further testing;
* otherwise one is not concluded yet: **not tested**, and the control stays "testing in progress".

The controls relied on are named by a policy setting (``itgc_controls``): control ids, or procedure names
standing for every control of the matrix tested with them (never the control itself). A conclusion is used
as recorded; whether it has gone stale is that control's own workpaper's to say.

Public API::

    relied_on(engagement, control, names) -> tuple[Control, ...]
    reliance_of(engagement, control, names) -> Reliance
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.engagement import Control, Engagement
from workbench.errors import ParameterError
from workbench.judgements import recorded_conclusion
from workbench.procedures import KNOWN_PROCEDURES

__all__ = ["Reliance", "relied_on", "reliance_of", "EFFECTIVE", "NOT_EFFECTIVE"]

#: Recorded conclusions on which reliance can be placed.
EFFECTIVE: tuple[str, ...] = ("no_exceptions_noted", "exceptions_noted", "not_occurring",
                              "suitably_designed_and_implemented")
#: Recorded conclusions on which it cannot.
NOT_EFFECTIVE: tuple[str, ...] = ("not_operating_effectively", "not_suitably_designed", "not_implemented")


@dataclass(frozen=True)
class Reliance:
    """The outcome of a reliance attribute for a control.

    Attributes
    ----------
    outcome : str
        ``pass``, ``fail`` or ``not tested``.
    reason : str
        Why it fails, or what is not concluded yet ("" on a pass).
    evidence : str
        Each control relied on with its recorded conclusion, who recorded it and when.
    at : str or None
        When the latest of those conclusions was recorded.
    controls : tuple of (str, str)
        (control id, its recorded conclusion or ``not concluded``).
    """

    outcome: str
    reason: str
    evidence: str
    at: str | None
    controls: tuple[tuple[str, str], ...]


def _split(names: str) -> list[str]:
    return [n.strip() for n in names.replace(",", ";").split(";") if n.strip()]


def relied_on(engagement: Engagement, control: Control, names: str) -> tuple[Control, ...]:
    """The controls named by ``names`` (``"CM-01; AC-02"`` or ``"change_management; user_provisioning"``), in
    matrix order, ``control`` itself left out.

    Raises
    ------
    ParameterError
        A name that is neither a control of the matrix nor a procedure.
    """
    ids = {c.id for c in engagement.controls}
    procedures = set(KNOWN_PROCEDURES) | set(engagement.procedures)
    wanted: set[str] = set()
    for name in _split(names):
        if name in ids:
            wanted.add(name)
        elif name in procedures:
            wanted.update(c.id for c in engagement.controls if c.procedure == name)
        else:
            raise ParameterError(
                f"control {control.id}: policy itgc_controls names {name!r}, which is neither a control of the matrix "
                f"nor a procedure; name control ids ({', '.join(sorted(ids)[:6])}, ...) or procedures "
                f"(change_management, user_provisioning, ...) in [controls.{control.id}.policy] of engagement.toml.")
    return tuple(c for c in engagement.controls if c.id in wanted and c.id != control.id)


def reliance_of(engagement: Engagement, control: Control, names: str) -> Reliance:
    """The outcome of a reliance attribute of ``control``: the recorded conclusions of the controls ``names``."""
    others = relied_on(engagement, control, names)
    if not others:
        return Reliance("fail", f"no control of the matrix matches {names!r}: no IT general control is tested, so "
                                f"reliance cannot be placed; test the control like a manual control across the "
                                f"period, or name the controls relied on (policy itgc_controls)", "", None, ())
    found: list[tuple[str, str]] = []
    evidence: list[str] = []
    times: list[str] = []
    failed: list[str] = []
    pending: list[str] = []
    for other in others:
        recorded = recorded_conclusion(engagement, other.id)
        if recorded is None:
            found.append((other.id, "not concluded"))
            pending.append(other.id)
            evidence.append(f"{other.id}: not concluded yet")
            continue
        found.append((other.id, recorded.conclusion))
        times.append(recorded.at)
        evidence.append(f"{other.id}: {recorded.conclusion.replace('_', ' ')} (recorded by {recorded.by} on "
                        f"{recorded.at[:10]})")
        if recorded.conclusion in NOT_EFFECTIVE:
            failed.append(f"{other.id} ({recorded.conclusion.replace('_', ' ')})")
        elif recorded.conclusion not in EFFECTIVE:
            pending.append(other.id)
    text = "recorded conclusions: " + "; ".join(evidence)
    at = max(times) if times else None
    if failed:
        return Reliance("fail", f"IT general control(s) not effective: {', '.join(failed)}; the automated control "
                                f"cannot be relied on without further testing", text, at, tuple(found))
    if pending:
        return Reliance("not tested", f"IT general control(s) not concluded yet: {', '.join(pending)}", text, at,
                        tuple(found))
    return Reliance("pass", "", text, at, tuple(found))
