"""The 2017 Trust Services Criteria (with the revised points of focus, 2022) that a control maps to.

A SOC 2 examination reports on one or more *categories*: **security** (always in scope; its criteria are
the 33 common criteria CC1.1–CC9.2), availability, processing integrity, confidentiality and privacy.
There are 61 criteria in all: 33 common criteria, A1.1–A1.3, PI1.1–PI1.5, C1.1–C1.2 and 18 privacy
criteria P1.1–P8.1 (P1.1, P2.1, P3.1–3.2, P4.1–4.3, P5.1–5.2, P6.1–6.7, P7.1, P8.1).

The titles below are short labels for workpapers and messages, paraphrasing the criterion text of
AICPA *TSP section 100, 2017 Trust Services Criteria for Security, Availability, Processing Integrity,
Confidentiality, and Privacy (With Revised Points of Focus — 2022)*. The ids and their count were checked
against Chiaro ``framework/criteria.json`` (https://github.com/Chiaro-HQ/methodology, CC BY 4.0).

Public API::

    CATEGORIES                    ('security', 'availability', 'processing_integrity', 'confidentiality', 'privacy')
    CRITERIA                      dict id -> Criterion(id, category, title), in TSP 100 order
    CRITERION_IDS                 tuple of the 61 ids, in order
    get_criterion(id)             -> Criterion (case-insensitive; KeyError for an unknown id)
    criteria_for(categories)      -> tuple of the ids in those categories
    normalize_criterion_id(text)  -> canonical id or None
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Mapping

__all__ = [
    "CATEGORIES",
    "CATEGORY_LABELS",
    "CATEGORY_PREFIXES",
    "Criterion",
    "CRITERIA",
    "CRITERION_IDS",
    "get_criterion",
    "criteria_for",
    "normalize_criterion_id",
]

#: The five categories, in the order TSP 100 presents them. Security is always in scope.
CATEGORIES: tuple[str, ...] = (
    "security",
    "availability",
    "processing_integrity",
    "confidentiality",
    "privacy",
)

#: How each category is written in a report.
CATEGORY_LABELS: Mapping[str, str] = MappingProxyType({
    "security": "Security",
    "availability": "Availability",
    "processing_integrity": "Processing Integrity",
    "confidentiality": "Confidentiality",
    "privacy": "Privacy",
})

#: The id prefix of each category's criteria (CC = common criteria = security).
CATEGORY_PREFIXES: Mapping[str, str] = MappingProxyType({
    "security": "CC",
    "availability": "A",
    "processing_integrity": "PI",
    "confidentiality": "C",
    "privacy": "P",
})


@dataclass(frozen=True)
class Criterion:
    """One trust services criterion.

    Attributes
    ----------
    id : str
        As printed in TSP 100, e.g. ``"CC8.1"``.
    category : str
        One of :data:`CATEGORIES`.
    title : str
        A short label (a paraphrase of the criterion text).
    """

    id: str
    category: str
    title: str

    def summary(self) -> str:
        """One line: ``CC8.1 (Security): Change management ...``."""
        return f"{self.id} ({CATEGORY_LABELS[self.category]}): {self.title}"


_TABLE: tuple[tuple[str, str], ...] = (
    # CC1 Control environment (COSO principles 1-5)
    ("CC1.1", "Commitment to integrity and ethical values"),
    ("CC1.2", "Board independence and oversight of internal control"),
    ("CC1.3", "Structures, reporting lines, authorities and responsibilities"),
    ("CC1.4", "Commitment to attract, develop and retain competent individuals"),
    ("CC1.5", "Accountability for internal control responsibilities"),
    # CC2 Communication and information
    ("CC2.1", "Relevant, quality information to support internal control"),
    ("CC2.2", "Internal communication of objectives and responsibilities"),
    ("CC2.3", "Communication with external parties"),
    # CC3 Risk assessment
    ("CC3.1", "Objectives specified to identify and assess risks"),
    ("CC3.2", "Identification and analysis of risks"),
    ("CC3.3", "Consideration of the potential for fraud"),
    ("CC3.4", "Identification and assessment of significant changes"),
    # CC4 Monitoring activities
    ("CC4.1", "Ongoing and/or separate evaluations of internal control"),
    ("CC4.2", "Evaluation and communication of deficiencies"),
    # CC5 Control activities
    ("CC5.1", "Control activities that mitigate risks"),
    ("CC5.2", "General control activities over technology"),
    ("CC5.3", "Control activities deployed through policies and procedures"),
    # CC6 Logical and physical access controls
    ("CC6.1", "Logical access security software, infrastructure and architectures"),
    ("CC6.2", "Registration and authorization of users; removal of credentials"),
    ("CC6.3", "Role-based access: authorize, modify or remove; least privilege and segregation of duties"),
    ("CC6.4", "Physical access to facilities and protected assets"),
    ("CC6.5", "Disposal of physical assets after data is unrecoverable"),
    ("CC6.6", "Protection against threats from outside the system boundaries"),
    ("CC6.7", "Restriction and protection of information in transmission, movement or removal"),
    ("CC6.8", "Prevention or detection of unauthorized or malicious software"),
    # CC7 System operations
    ("CC7.1", "Detection of configuration changes and new vulnerabilities"),
    ("CC7.2", "Monitoring of system components for anomalies"),
    ("CC7.3", "Evaluation of security events"),
    ("CC7.4", "Response to security incidents"),
    ("CC7.5", "Recovery from security incidents"),
    # CC8 Change management
    ("CC8.1", "Change management: authorize, design, develop, configure, document, test, approve and implement changes"),
    # CC9 Risk mitigation
    ("CC9.1", "Risk mitigation for business disruptions"),
    ("CC9.2", "Vendor and business partner risk management"),
    # A1 Additional criteria for availability
    ("A1.1", "Capacity management"),
    ("A1.2", "Environmental protections, backups and recovery infrastructure"),
    ("A1.3", "Testing of recovery plan procedures"),
    # PI1 Additional criteria for processing integrity
    ("PI1.1", "Information about processing objectives, data definitions and specifications"),
    ("PI1.2", "Policies and procedures over system inputs"),
    ("PI1.3", "Policies and procedures over system processing"),
    ("PI1.4", "Complete, accurate and timely delivery of output"),
    ("PI1.5", "Storage of inputs, items in processing and outputs"),
    # C1 Additional criteria for confidentiality
    ("C1.1", "Identification and maintenance of confidential information"),
    ("C1.2", "Disposal of confidential information"),
    # P1-P8 Additional criteria for privacy
    ("P1.1", "Notice to data subjects about privacy practices"),
    ("P2.1", "Choice and consent communicated to data subjects"),
    ("P3.1", "Collection of personal information consistent with objectives"),
    ("P3.2", "Explicit consent obtained before collection where required"),
    ("P4.1", "Use of personal information limited to identified purposes"),
    ("P4.2", "Retention of personal information"),
    ("P4.3", "Secure disposal of personal information"),
    ("P5.1", "Data subject access to their personal information"),
    ("P5.2", "Correction, amendment or appending of personal information"),
    ("P6.1", "Disclosure to third parties with consent or as permitted by law"),
    ("P6.2", "Record of authorized disclosures"),
    ("P6.3", "Record of unauthorized disclosures"),
    ("P6.4", "Privacy commitments obtained from vendors and third parties"),
    ("P6.5", "Third-party commitments to notify of unauthorized disclosures"),
    ("P6.6", "Notification of breaches and incidents"),
    ("P6.7", "Accounting of personal information held and disclosed, on request"),
    ("P7.1", "Accurate, complete and relevant personal information"),
    ("P8.1", "Inquiries, complaints and disputes; monitoring of compliance"),
)

_PREFIX_CATEGORY = {prefix: category for category, prefix in CATEGORY_PREFIXES.items()}
_ID_PATTERN = re.compile(r"^(CC|PI|A|C|P)(\d)\.(\d)$")


def _category_of(criterion_id: str) -> str:
    match = _ID_PATTERN.match(criterion_id)
    if match is None:  # pragma: no cover - the table above is fixed
        raise AssertionError(criterion_id)
    return _PREFIX_CATEGORY[match.group(1)]


#: Every criterion by id, in TSP 100 order.
CRITERIA: Mapping[str, Criterion] = MappingProxyType({
    cid: Criterion(cid, _category_of(cid), title) for cid, title in _TABLE
})

#: The 61 criterion ids, in TSP 100 order.
CRITERION_IDS: tuple[str, ...] = tuple(CRITERIA)

_BY_UPPER = {cid.upper(): cid for cid in CRITERION_IDS}


def normalize_criterion_id(text: str) -> str | None:
    """Return the canonical id for ``text`` (case and surrounding spaces ignored), or ``None``.

    ``"cc8.1"`` and ``" CC8.1 "`` give ``"CC8.1"``; ``"CC8.2"`` (no such criterion) gives ``None``.
    """
    return _BY_UPPER.get(str(text).strip().upper())


def get_criterion(criterion_id: str) -> Criterion:
    """Return the :class:`Criterion` for an id such as ``"CC8.1"`` (case-insensitive).

    Raises
    ------
    KeyError
        If there is no such criterion; the message lists the valid ids.
    """
    canonical = normalize_criterion_id(criterion_id)
    if canonical is None:
        raise KeyError(
            f"{criterion_id!r} is not a 2017 Trust Services Criterion; valid ids are "
            f"{CRITERION_IDS[0]} … {CRITERION_IDS[-1]}: {', '.join(CRITERION_IDS)}."
        )
    return CRITERIA[canonical]


def criteria_for(categories: Iterable[str]) -> tuple[str, ...]:
    """Return the criterion ids of the given categories, in TSP 100 order.

    Raises
    ------
    ValueError
        If a category is not one of :data:`CATEGORIES`.
    """
    wanted = set()
    for category in categories:
        if category not in CATEGORIES:
            raise ValueError(f"{category!r} is not a category; use one of {', '.join(CATEGORIES)}.")
        wanted.add(category)
    return tuple(cid for cid, criterion in CRITERIA.items() if criterion.category in wanted)
