"""Automated control (configuration): a test of one instance, relying on the IT general controls.

An automated control (Okta enforcing MFA, encryption at rest, alert routing) performs the same way every time
until its configuration changes. So the auditor inspects the configuration once and re-performs the control,
and relies on the IT general controls (change management and logical access) for the rest of the period,
with evidence that the configuration did not change (workflow.md §1.4: "inspect configuration and re-perform
once, relying on effective ITGCs; if ITGCs fail, test like a manual control across the period").

Population: ``occurrences`` (no file): one derived occurrence, the configuration as of the end of the period
(Type 1: as of the as-of date). When the configuration changed during the period, the tester lists each
version as an occurrence in engagement.toml (``[[controls.<id>.occurrences]]``) and each is tested. The sample
is every occurrence (one): :attr:`~workbench.procedures.base.Procedure.sample_basis` says why.

========================== ========= ================================================================
id                         kind      passes when
========================== ========= ================================================================
configuration_enforces     manual    the configuration in effect enforces the control as described
                                     (inspected and re-performed)
configuration_unchanged    manual    the configuration did not change during the period, or each change
                                     went through change management (Type 1: not applicable, record n/a)
itgc_reliance              manual    decided by the recorded conclusions of the IT general controls named by
                                     policy ``itgc_controls``: pass when every one is concluded effective,
                                     fail when one is not (a finding: the automated control cannot be relied
                                     on without further testing), not tested while one is not concluded yet
========================== ========= ================================================================

Policy ``itgc_controls``: control ids, or procedure names standing for every control tested with them,
separated by ``;``; default the change-management and logical-access procedures.
"""

from __future__ import annotations

from workbench.procedures.base import MANUAL, Attribute, PolicyParameter, Procedure

__all__ = ["PROCEDURE", "DEFAULT_ITGC_CONTROLS"]

#: The IT general controls relied on by default: every control tested with these procedures.
DEFAULT_ITGC_CONTROLS = ("change_management; emergency_change; deployment_reconciliation; user_provisioning; "
                         "user_deprovisioning; access_review; privileged_access")

PROCEDURE = Procedure(
    name="automated_control",
    title="Automated control (configuration)",
    criteria=("CC5.2",),
    population_kind="occurrences",
    key_column="occurrence_id",
    date_column="due_at",
    item_noun="configuration instance",
    item_noun_plural="configuration instances",
    item_description="instance of the configuration",
    item_description_plural="instances of the configuration",
    occurred="in effect",
    inspection="Inspected the system configuration and re-performed the control for",
    matrix_columns=("description", "source"),
    derived_occurrences="period_end",
    sample_basis=(
        "Automated control: it performs the same way every time until its configuration changes, so one instance "
        "is tested (the configuration as of the end of the period, inspected and the control re-performed), for a "
        "Type 1 and a Type 2 report alike. The rest of the period rests on the IT general controls over change "
        "management and logical access (attribute itgc_reliance: their recorded conclusions) and on evidence that "
        "the configuration did not change (configuration_unchanged). Where the configuration changed, each version "
        "listed in engagement.toml is an occurrence and is tested; where the IT general controls are not effective, "
        "the control is tested like a manual control across the period."),
    description=(
        "The configuration that performs the control is inspected once and the control re-performed; reliance is "
        "placed on the IT general controls (their recorded conclusions are read from the results store) and on "
        "evidence that the configuration did not change during the period."
    ),
    policy=(
        PolicyParameter(
            "itgc_controls",
            "The IT general controls (change management, logical access) the automated control relies on: control "
            "ids, or procedure names standing for every control of the matrix tested with them, separated by ';'. "
            "Each one's recorded conclusion decides attribute itgc_reliance.",
            DEFAULT_ITGC_CONTROLS, kind="text"),
    ),
    attributes=(
        Attribute(
            id="configuration_enforces",
            label="Configuration enforces the control",
            description="The configuration in effect (as of the end of the period, or the version listed) enforces "
                        "the control as described; the tester inspected it and re-performed the control.",
            kind=MANUAL,
            pass_criterion="The tester inspected the configuration (screenshots or an export of the settings, dated) "
                           "and re-performed the control (e.g. an attempt the control must block), and it enforces "
                           "the control as described; anything less is a fail with what differs in the comment. "
                           "Type 1 and Type 2 alike.",
            deviation_wording="the configuration did not enforce the control as described",
            objective="the configuration in effect enforced the control as described",
            evidence_request="the configuration as of the date of the occurrence (a dated screenshot or an export of "
                             "the settings), and a session in which the tester re-performs the control",
        ),
        Attribute(
            id="configuration_unchanged",
            label="Configuration unchanged",
            description="The configuration did not change during the period, or each change went through change "
                        "management.",
            kind=MANUAL,
            pass_criterion="Type 2: the change history of the configuration for the period (audit log, "
                           "infrastructure-as-code history) shows no change, or each change has an approved change "
                           "ticket; a change without one is a fail. Type 1: not applicable (record n/a): the report "
                           "is as of one date.",
            deviation_wording="changes to the configuration during the period were not evidenced as authorised",
            objective="the configuration did not change during the period other than through authorised changes",
            evidence_request="the change history of the configuration for the period (audit log or "
                             "infrastructure-as-code history), and the change ticket of any change it shows",
        ),
        Attribute(
            id="itgc_reliance",
            label="IT general controls relied on",
            description="The IT general controls over change management and logical access that the automated "
                        "control relies on were concluded effective (their recorded conclusions).",
            kind=MANUAL,
            relies_on="itgc_controls",
            pass_criterion="Decided by the recorded conclusions of the controls named by policy itgc_controls: pass "
                           "when each is concluded effective (no exceptions noted, exceptions noted, not occurring; "
                           "Type 1: suitably designed and implemented); fail when one is not operating effectively "
                           "(or not suitably designed or implemented); not tested while one is not concluded yet.",
            deviation_wording="the IT general controls relied on were not effective, so the automated control cannot "
                              "be relied on without further testing",
            objective="the IT general controls relied on were concluded effective",
            evidence_request="none from the client: the auditor's own conclusions on the IT general controls",
        ),
    ),
)
