"""The procedure model, the registry and the change-management attributes (workbench.procedures)."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.errors import EngagementError, InputError, PopulationError
from workbench.procedures import (
    KNOWN_PROCEDURES,
    Attribute,
    Procedure,
    ProcedureNotImplementedError,
    UnknownProcedureError,
    get_procedure,
    implemented_procedures,
    is_implemented,
    is_known,
)
from workbench.procedures.base import CheckContext, outcome_frame

TZ = "America/New_York"


def ts(text: str | None) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ) if text else pd.NaT


def changes(rows: list[dict]) -> pd.DataFrame:
    """A canonical change frame (the columns the change loaders produce), tz-aware timestamps."""
    base = dict(title="Change", change_type="normal", status="Done", author="alice", approver="bob",
                created_at="2025-08-01 09:00", approved_at="2025-08-02 09:00", deployed_at="2025-08-03 09:00",
                system="app")
    records = []
    for i, row in enumerate(rows, start=1):
        record = {"change_id": f"CHG-{i}", **base, **row}
        records.append(record)
    frame = pd.DataFrame(records)
    for column in ("created_at", "approved_at", "deployed_at"):
        frame[column] = pd.to_datetime(pd.Series([ts(v) if isinstance(v, str) else pd.NaT
                                                  for v in frame[column]], dtype=f"datetime64[ns, {TZ}]"))
    return frame


# -- catalogue and registry -------------------------------------------------------------------------

def test_catalogue_is_the_contract_list():
    # the whole control library: deployment traceability (reconciliation findings are its exceptions), onboarding,
    # inspection-only and automated controls included
    assert KNOWN_PROCEDURES == (
        "change_management", "emergency_change", "deployment_reconciliation", "user_provisioning",
        "user_deprovisioning", "access_review", "privileged_access", "incident_management", "backup_monitoring",
        "vendor_management", "security_training", "new_hire_onboarding", "inspection", "automated_control",
    )


def test_every_catalogue_procedure_is_implemented():
    assert implemented_procedures() == KNOWN_PROCEDURES
    assert all(get_procedure(name).name == name for name in KNOWN_PROCEDURES)
    assert is_known("user_provisioning") and is_implemented("user_provisioning")
    assert not is_known("change_mgmt")
    assert not is_implemented("change_mgmt")


def test_get_procedure_returns_the_registered_value():
    procedure = get_procedure("change_management")
    assert isinstance(procedure, Procedure)
    assert procedure.name == "change_management"
    assert get_procedure("change_management") is procedure


def test_unknown_procedure_suggests_the_closest_name():
    with pytest.raises(UnknownProcedureError, match=r"'change_managment' is not a known procedure name\. "
                                                    r"Did you mean 'change_management'\?"):
        get_procedure("change_managment")


def test_unknown_procedure_without_a_close_name_lists_the_catalogue():
    with pytest.raises(UnknownProcedureError, match=r"'xyz' is not a known.*Use one of: change_management, "):
        get_procedure("xyz")


def test_known_but_unimplemented_procedure_reads_not_yet_tested(monkeypatch):
    # a name added to the catalogue before its module is written reads "not yet tested", never a traceback
    import workbench.procedures as registry
    monkeypatch.setattr(registry, "KNOWN_PROCEDURES", (*KNOWN_PROCEDURES, "change_freeze"))
    assert registry.is_known("change_freeze") and not registry.is_implemented("change_freeze")
    with pytest.raises(ProcedureNotImplementedError, match=r"'change_freeze' is in the catalogue but not "
                                                           r"implemented yet.*\"not yet tested\""):
        get_procedure("change_freeze")


def test_procedure_errors_are_input_errors():
    assert issubclass(UnknownProcedureError, InputError)
    assert issubclass(ProcedureNotImplementedError, InputError)


# -- the change-management declaration --------------------------------------------------------------

def test_change_management_declaration():
    p = get_procedure("change_management")
    assert p.population_kind == "changes"
    assert p.key_column == "change_id"
    assert p.date_column == "deployed_at"
    assert p.criteria == ("CC8.1",)
    assert p.attribute_ids == ("ticket_before_deployment", "approved_before_deployment", "approver_not_author",
                               "testing_evidenced", "agreed_to_source")
    assert [a.kind for a in p.attributes] == ["automated", "automated", "automated", "manual", "manual"]
    # agreed_to_source is an accuracy check of the sampled items' data: a failure is a population finding
    assert [a.role for a in p.attributes] == ["control", "control", "control", "control", "accuracy"]
    assert [a.accuracy for a in p.attributes] == [False, False, False, False, True]
    assert p.attribute("agreed_to_source").deviation_wording == \
        "the exported change data did not agree with the ticket in the source system"
    assert [pp.name for pp in p.policy_parameters] == ["min_sample_size", "extension", "extension_items"]
    assert p.attribute("approved_before_deployment").deviation_wording == \
        "approval was not documented before deployment"
    assert p.required_columns == ("change_id", "deployed_at", "created_at", "approved_at", "author", "approver")


def test_attribute_table_has_one_row_per_attribute():
    table = get_procedure("change_management").attribute_table()
    assert list(table["attribute"]) == ["ticket_before_deployment", "approved_before_deployment",
                                        "approver_not_author", "testing_evidenced", "agreed_to_source"]
    assert list(table.columns) == ["attribute", "label", "kind", "description", "pass_criterion", "deviation",
                                   "depends_on", "role"]
    assert list(table["role"]) == ["control"] * 4 + ["accuracy (a failure is a population finding)"]


def test_select_attributes_keeps_procedure_order_and_refuses_unknown_ids():
    p = get_procedure("change_management")
    chosen = p.select_attributes(["approver_not_author", "ticket_before_deployment"])
    # an automated attribute relies on the export: the sampled items are agreed to source as well
    assert [a.id for a in chosen] == ["ticket_before_deployment", "approver_not_author", "agreed_to_source"]
    assert [a.id for a in p.select_attributes(["testing_evidenced"])] == ["testing_evidenced"]
    assert p.select_attributes(()) == p.attributes
    with pytest.raises(EngagementError, match=r"attribute 'approved_by_cab' is not an attribute of procedure "
                                              r"'change_management'; use one of: ticket_before_deployment"):
        p.select_attributes(["approved_by_cab"])


def test_test_performed_wording():
    p = get_procedure("change_management")
    text = p.test_performed(extent="a sample of 25 production changes deployed during the period",
                            attributes=p.select_attributes(["approved_before_deployment", "approver_not_author"]),
                            population_count=1512)
    assert text == (
        "Inspected the change ticket for a sample of 25 production changes deployed during the period to "
        "determine that approval was documented before deployment, the approver was someone other than "
        "the change's author and the exported change data agreed with the ticket history and deployment record. "
        "Recomputed the attributes approved before deployment and approver not author for all 1,512 changes in "
        "scope (full-population analysis)."
    )
    manual_only = p.test_performed(extent="a sample of 25 production changes deployed during the period",
                                   attributes=p.select_attributes(["testing_evidenced"]), population_count=1512)
    assert manual_only == ("Inspected the change ticket for a sample of 25 production changes deployed during "
                           "the period to determine that testing was evidenced before deployment.")


# -- the change-management checks -------------------------------------------------------------------

def run(frame: pd.DataFrame) -> dict[str, tuple[list[str], list[str]]]:
    checks = get_procedure("change_management").run_checks(frame)
    return {a: (list(c.outcome), list(c.reason)) for a, c in checks.items()}


def test_clean_change_passes_every_automated_attribute():
    result = run(changes([{}]))
    assert set(result) == {"ticket_before_deployment", "approved_before_deployment", "approver_not_author"}
    assert all(outcomes == ["pass"] and reasons == [""] for outcomes, reasons in result.values())


def test_approved_after_deployment_fails_with_both_times():
    result = run(changes([{"approved_at": "2026-03-02 14:10", "deployed_at": "2026-03-01 09:00",
                           "created_at": "2026-02-27 08:00"}]))
    assert result["approved_before_deployment"] == (
        ["fail"], ["approved 2026-03-02 14:10 after deployment 2026-03-01 09:00"])


def test_approval_at_the_deployment_minute_passes():
    result = run(changes([{"approved_at": "2025-08-03 09:00"}]))
    assert result["approved_before_deployment"] == (["pass"], [""])


def test_missing_approval_is_a_deviation():
    result = run(changes([{"approved_at": None}]))
    assert result["approved_before_deployment"] == (["fail"], ["no approval recorded"])


def test_ticket_created_after_deployment_fails():
    result = run(changes([{"created_at": "2025-08-04 10:30"}]))
    assert result["ticket_before_deployment"] == (
        ["fail"], ["ticket created 2025-08-04 10:30 after deployment 2025-08-03 09:00"])


def test_missing_creation_time_fails():
    result = run(changes([{"created_at": None}]))
    assert result["ticket_before_deployment"] == (["fail"], ["no ticket creation time recorded"])


def test_not_deployed_change_is_not_applicable():
    result = run(changes([{"deployed_at": None}]))
    assert result["ticket_before_deployment"] == (["n/a"], ["not deployed"])
    assert result["approved_before_deployment"] == (["n/a"], ["not deployed"])


def test_self_approval_is_detected_case_insensitively_and_ignoring_spaces():
    result = run(changes([{"author": "Alice.Smith", "approver": " alice.smith "}, {"author": "ALICE", "approver": "bob"}]))
    assert result["approver_not_author"] == (["fail", "pass"], ["approved by its author (alice.smith)", ""])


def test_missing_approver_or_author_is_a_deviation():
    result = run(changes([{"approver": None}, {"approver": "   "}, {"author": None}]))
    assert result["approver_not_author"] == (
        ["fail", "fail", "fail"],
        ["no approver recorded", "no approver recorded", "no author recorded, so independence cannot be evidenced"],
    )


def test_vectorised_over_many_rows_keeps_row_alignment():
    rows = [{} for _ in range(200)]
    rows[17] = {"approved_at": None}
    rows[150] = {"approver": "ALICE"}
    frame = changes(rows).set_index(pd.RangeIndex(1000, 1200))
    checks = get_procedure("change_management").run_checks(frame)
    failed_approval = frame.loc[checks["approved_before_deployment"].failed, "change_id"].tolist()
    failed_independence = frame.loc[checks["approver_not_author"].failed, "change_id"].tolist()
    assert failed_approval == ["CHG-18"]
    assert failed_independence == ["CHG-151"]
    assert checks["approved_before_deployment"].counts() == {"pass": 199, "fail": 1, "n/a": 0, "not performed": 0}


def test_missing_column_is_a_population_error_naming_it():
    frame = changes([{}]).drop(columns=["approver"])
    with pytest.raises(PopulationError, match=r"attribute 'approver_not_author' needs the column\(s\) approver"):
        get_procedure("change_management").run_checks(frame)


# -- the model itself: dependencies and declaration errors ------------------------------------------

def _has_owner(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    missing = frame["owner"].isna()
    return outcome_frame(frame.index, fail=missing, fail_reason=pd.Series("no owner", index=frame.index))


def _owner_is_manager(frame: pd.DataFrame, context: CheckContext) -> pd.DataFrame:
    wrong = frame["owner"] != "manager"
    return outcome_frame(frame.index, fail=wrong, fail_reason="owner is " + frame["owner"].fillna("?"))


def toy_procedure() -> Procedure:
    return Procedure(
        name="toy", title="Toy", criteria=("CC6.2",), population_kind="tickets", key_column="ticket_id",
        date_column="opened_at", item_noun="ticket", item_noun_plural="tickets", item_description="ticket",
        item_description_plural="tickets", occurred="opened", inspection="Inspected",
        attributes=(
            Attribute(id="has_owner", label="Has owner", description="d", kind="automated", pass_criterion="p",
                      deviation_wording="no owner was recorded", objective="an owner was recorded",
                      columns=("owner",), check=_has_owner),
            Attribute(id="owner_is_manager", label="Owner is manager", description="d", kind="automated",
                      pass_criterion="p", deviation_wording="the owner was not a manager",
                      objective="the owner was a manager", depends_on=("has_owner",), columns=("owner",),
                      check=_owner_is_manager),
        ),
    )


def test_attribute_whose_prerequisite_failed_is_not_performed():
    frame = pd.DataFrame({"ticket_id": ["T1", "T2", "T3"], "owner": ["manager", None, "clerk"]})
    checks = toy_procedure().run_checks(frame)
    assert list(checks["has_owner"].outcome) == ["pass", "fail", "pass"]
    assert list(checks["owner_is_manager"].outcome) == ["pass", "not performed", "fail"]
    assert list(checks["owner_is_manager"].reason) == ["", "prerequisite has_owner failed", "owner is clerk"]


def test_dependency_applies_only_when_the_prerequisite_is_tested():
    procedure = toy_procedure()
    frame = pd.DataFrame({"ticket_id": ["T1", "T2"], "owner": [None, "clerk"]})
    checks = procedure.run_checks(frame, procedure.select_attributes(["owner_is_manager"]))
    assert list(checks) == ["owner_is_manager"]
    assert list(checks["owner_is_manager"].outcome) == ["fail", "fail"]


def test_declaration_errors():
    check = _has_owner
    with pytest.raises(ValueError, match="automated and needs a check function"):
        Attribute(id="a", label="A", description="d", kind="automated", pass_criterion="p",
                  deviation_wording="w", objective="o")
    with pytest.raises(ValueError, match="manual and must not have a check function"):
        Attribute(id="a", label="A", description="d", kind="manual", pass_criterion="p",
                  deviation_wording="w", objective="o", check=check)
    with pytest.raises(ValueError, match="kind must be 'automated' or 'manual', got 'auto'"):
        Attribute(id="a", label="A", description="d", kind="auto", pass_criterion="p",
                  deviation_wording="w", objective="o")
    manual = Attribute(id="later", label="L", description="d", kind="manual", pass_criterion="p",
                       deviation_wording="w", objective="o", depends_on=("first",))
    first = Attribute(id="first", label="F", description="d", kind="manual", pass_criterion="p",
                      deviation_wording="w", objective="o")
    common = dict(name="x", title="X", criteria=(), population_kind="tickets", key_column="k", date_column="d",
                  item_noun="t", item_noun_plural="ts", item_description="t", item_description_plural="ts",
                  occurred="opened", inspection="Inspected")
    with pytest.raises(ValueError, match="depends on 'first', which must be an attribute listed before it"):
        Procedure(attributes=(manual, first), **common)
    with pytest.raises(ValueError, match="attribute id 'first' appears twice"):
        Procedure(attributes=(first, first), **common)
    assert Procedure(attributes=(first, manual), **common).attribute_ids == ("first", "later")
