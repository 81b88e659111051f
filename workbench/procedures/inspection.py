"""Inspection (periodic manual controls with no client export): policy reviews, committee meetings, risk
assessments, DR and restore tests, capacity reviews, data deletion.

Population: ``occurrences`` (no file). The occurrences of the control are derived from its frequency over the
period (1 annual, 4 quarters, 12 months, 52 weeks, the business days for a daily control) or listed by the
tester in engagement.toml (``[[controls.<id>.occurrences]]``); see :mod:`workbench.occurrences`. The firm's
frequency table gives the sample (:func:`sampling.plan_frequency`); its seed is derived from the engagement,
the sample (which names the control) and the SHA-256 of the list of occurrences.

The attributes are the control's own: one per line of the control matrix's ``Manual attributes`` column,
each judged from evidence and recorded in the results store. A line reads::

    [id:] what the evidence shows, as it completes "to determine that ..." [| the deviation wording]

``The information security policies were reviewed and approved by management`` gives the objective "the
information security policies were reviewed and approved by management", the deviation "it was not evidenced
that the information security policies were reviewed and approved by management" and the id
``information_security_policies_reviewed`` (:func:`attribute_id`: the first four words that are not
stopwords, lower case, joined with ``_``). Give the id yourself (``policy_reviewed: The ...``) to keep results
recorded under it when the wording changes. A control with a blank ``Manual attributes`` cell is tested on
one attribute, ``performed_as_described``.

Public API::

    PROCEDURE                                         the catalogue entry (the default attribute)
    for_control(lines, frequency) -> Procedure        the procedure of one control (its own attributes)
    manual_attributes(lines) -> tuple[Attribute, ...] the attributes of a Manual attributes cell
    split_lines(text) -> tuple[str, ...]               the lines of a cell
    attribute_id(text) -> str                          the id derived from an attribute's wording
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from workbench.procedures.base import MANUAL, Attribute, Procedure

__all__ = ["PROCEDURE", "for_control", "manual_attributes", "split_lines", "attribute_id", "DEFAULT_ATTRIBUTE",
           "FREQUENCY_ADJECTIVES"]

#: How a frequency reads before "occurrence" ("quarterly occurrence of the control").
FREQUENCY_ADJECTIVES: dict[str, str] = {
    "annual": "annual", "quarterly": "quarterly", "monthly": "monthly", "weekly": "weekly", "daily": "daily",
    "many_times_a_day": "", "as_needed": "",
}

_STOPWORDS = frozenset("""
a an the was were is are be been being has have had of by and or to for in on at with that this these those its
their it as from during within each every all any was were which who whom than then so such per into onto over
""".split())
_ID_PREFIX = re.compile(r"^([a-z][a-z0-9_]*)\s*:\s+(.+)$")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")
_WORDS_IN_ID = 4


def split_lines(text: str) -> tuple[str, ...]:
    """The attribute lines of a ``Manual attributes`` cell: one per line, bullets ("- ", "1. ") and blank
    lines dropped, surrounding spaces removed."""
    out = []
    for line in re.split(r"\r\n|\r|\n", text or ""):
        line = _BULLET.sub("", line).strip()
        if line:
            out.append(line)
    return tuple(out)


def attribute_id(text: str) -> str:
    """The id derived from an attribute's wording: its first four words that are not stopwords, lower case,
    letters and digits only, joined with ``_`` (``The policies were reviewed and approved by management`` ->
    ``policies_reviewed_approved_management``)."""
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS]
    if not words:
        return ""
    chosen = words[:_WORDS_IN_ID]
    if chosen[0][0].isdigit():
        chosen.insert(0, "n")
    return "_".join(chosen)


def _sentence(text: str) -> str:
    """The wording as it follows "to determine that": no final period, first letter lower case unless the first
    word is an acronym or a name written with inner capitals (``CISO``, ``AWS``, ``DevOps``)."""
    text = text.strip().rstrip(".").strip()
    first = text.split(" ", 1)[0]
    if first and first[0].isupper() and not any(c.isupper() for c in first[1:]):
        text = first[0].lower() + text[1:]
    return text


def _label(identifier: str) -> str:
    words = identifier.split("_")
    return " ".join([words[0].capitalize()] + words[1:])


def manual_attributes(lines: Sequence[str]) -> tuple[Attribute, ...]:
    """The manual attributes a control's ``Manual attributes`` lines declare, in order.

    Raises
    ------
    ValueError
        A line without wording, an id that is not lower_snake_case, an id used twice, an empty deviation after
        ``|``; the message names the line (1-based) and the fix.
    """
    out: list[Attribute] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        explicit = _ID_PREFIX.match(line)
        identifier = explicit.group(1) if explicit else ""
        body = explicit.group(2) if explicit else line
        wording, bar, deviation = body.partition("|")
        wording, deviation = wording.strip(), deviation.strip()
        if len(re.findall(r"[A-Za-z]+", wording)) < 3:
            raise ValueError(f"line {number} ({raw.strip()!r}) does not say what the evidence shows; write a sentence "
                             f"that completes \"to determine that ...\", e.g. \"The committee met and minutes were "
                             f"kept\".")
        if bar and not deviation:
            raise ValueError(f"line {number}: nothing after '|'; write the deviation as Section 4 states it (\"the "
                             f"minutes were not approved\"), or remove the '|'.")
        objective = _sentence(wording)
        if not identifier:
            identifier = attribute_id(wording)
            base, n = identifier, 2
            while identifier in seen:
                identifier, n = f"{base}_{n}", n + 1
        elif identifier in seen:
            raise ValueError(f"line {number}: id {identifier!r} is also the id of line {seen[identifier]}; give each "
                             f"attribute its own id.")
        seen[identifier] = number
        out.append(Attribute(
            id=identifier,
            label=_label(identifier),
            description=wording if wording.endswith(".") else wording + ".",
            kind=MANUAL,
            pass_criterion=(f"The tester inspected evidence for the occurrence that {objective}, and recorded a pass "
                            f"with an evidence reference; missing or insufficient evidence is a fail, with what was "
                            f"missing in the comment (Type 1: the one occurrence walked through; Type 2: each "
                            f"sampled occurrence)."),
            deviation_wording=_sentence(deviation) if deviation else f"it was not evidenced that {objective}",
            objective=objective,
            evidence_request=f"evidence that {objective}",
        ))
    return tuple(out)


#: The attribute of an inspection control whose ``Manual attributes`` cell is blank.
DEFAULT_ATTRIBUTE = Attribute(
    id="performed_as_described",
    label="Performed as described",
    description="Evidence that the control was performed as the control activity describes it, for the occurrence.",
    kind=MANUAL,
    pass_criterion="The tester inspected evidence that the control was performed as described for the occurrence and "
                   "recorded a pass with an evidence reference; missing evidence is a fail.",
    deviation_wording="it was not evidenced that the control was performed as described",
    objective="the control was performed as described",
    evidence_request="evidence that the control was performed as described for the occurrence (e.g. the "
                     "approved document, the minutes, the report, with its date)",
)


def for_control(lines: Sequence[str], frequency: str) -> Procedure:
    """The inspection procedure of one control: its ``Manual attributes`` lines (the default attribute when
    there are none) and its frequency in the wording.

    Raises
    ------
    ValueError
        A bad line (see :func:`manual_attributes`).
    """
    attributes = manual_attributes(lines) if lines else (DEFAULT_ATTRIBUTE,)
    adjective = FREQUENCY_ADJECTIVES.get(frequency, "")
    described = f"{adjective} occurrence of the control".strip()
    return Procedure(
        name="inspection",
        title="Inspection of a periodic control",
        criteria=(),
        population_kind="occurrences",
        key_column="occurrence_id",
        date_column="due_at",
        item_noun="occurrence",
        item_noun_plural="occurrences",
        item_description=described,
        item_description_plural=described.replace("occurrence", "occurrences"),
        occurred="due",
        inspection="Inspected evidence of the control's performance for",
        matrix_columns=("starts_at", "description", "source"),
        description=(
            "A periodic manual control with no client export: its occurrences are derived from its frequency over "
            "the period (or listed by the tester in engagement.toml), a sample is taken with the firm's frequency "
            "table, and each sampled occurrence is inspected for the attributes of the control matrix's Manual "
            "attributes column (judged from evidence and recorded in the results store)."
        ),
        attributes=attributes,
        derived_occurrences="frequency",
    )


PROCEDURE = for_control((), "")
