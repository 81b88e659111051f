"""New-hire onboarding (CC1.1, CC1.4): a background check completed before the start date, the code of conduct
(and acceptable use policy) acknowledged at hire.

Population: the HR roster (kind ``terminations``: employee_id, name, email, department, title, hired_at,
terminated_at), dated by ``hired_at``: the people hired in the period (Type 2) or in the as-of window (Type 1).
The procedure's date column scopes the roster to its new hires, so no record filter is needed; a person hired
in the period and gone since is still a new hire of the period.

Attributes (workflow.md §2.4 "HR onboarding samples"; AssuranceLab's Drata population table):

============================== ====== ==============================================================
id                             kind   passes when
============================== ====== ==============================================================
background_check_before_start  manual the background check report is completed (cleared) on or before
                                      the start date (hired_at)
code_of_conduct_acknowledged   manual the signed acknowledgement of the code of conduct and acceptable
                                      use policy is dated within ``acknowledgement_days`` of the start
============================== ====== ==============================================================

Both are judged from evidence (the HR roster carries neither date): a control tests the one it describes
(the demo's ENT-02 the background check, ENT-01 the acknowledgement), and both share one sample of new hires,
so that one request per new hire covers the two. No attribute is computed from the data, so there is no
accuracy check: the hire date itself is agreed when the evidence is inspected.
"""

from __future__ import annotations

from workbench.procedures.base import MANUAL, Attribute, PolicyParameter, Procedure

__all__ = ["PROCEDURE"]

PROCEDURE = Procedure(
    name="new_hire_onboarding",
    title="New-hire onboarding",
    criteria=("CC1.1", "CC1.4"),
    population_kind="terminations",
    key_column="employee_id",
    date_column="hired_at",
    item_noun="new hire",
    item_noun_plural="new hires",
    item_description="person",
    item_description_plural="people",
    occurred="hired",
    inspection="Inspected the onboarding file (background check report, signed acknowledgements) for",
    matrix_columns=("name", "department", "title", "terminated_at"),
    description=(
        "New hires are screened before they start and acknowledge the code of conduct and the acceptable use "
        "policy at hire. The new hires are the HR roster's people hired in the window; a sample of them is "
        "inspected for the background check report and the signed acknowledgement."
    ),
    policy=(
        PolicyParameter("acknowledgement_days", "Days after the start date within which a new hire signs the code "
                        "of conduct and acceptable use policy acknowledgement (0: on or before the start date).",
                        30, unit="days"),
    ),
    attributes=(
        Attribute(
            id="background_check_before_start",
            label="Background check before start",
            description="A background check of the new hire was completed, with a cleared result, on or before "
                        "the start date.",
            kind=MANUAL,
            pass_criterion="The tester inspected the background check report (or the vendor's completion record): "
                           "completed and cleared on or before hired_at. No report, a later date or an open "
                           "result fails; the comment gives the dates.",
            deviation_wording="a background check was not completed before the start date",
            objective="a background check was completed before the start date",
            compared_date_column="hired_at",
        ),
        Attribute(
            id="code_of_conduct_acknowledged",
            label="Code of conduct acknowledged",
            description="The new hire acknowledged the code of conduct and the acceptable use policy at hire.",
            kind=MANUAL,
            pass_criterion="The tester inspected the signed (or electronically accepted) acknowledgement dated no "
                           "more than acknowledgement_days after hired_at; none, or a later date, fails.",
            deviation_wording="the code of conduct and acceptable use policy were not acknowledged at hire",
            objective="the code of conduct and acceptable use policy were acknowledged at hire",
        ),
    ),
)
