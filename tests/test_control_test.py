"""The tested control as one object: its stages belong together, and its inputs fingerprint moves with its inputs."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from conftest import raw_in_scope, run_stages
from workbench.control_test import FINGERPRINT_COMPONENTS, ControlTest, InputsFingerprint
from workbench.results import ResultsStore


@pytest.fixture
def stages(type2_copy):
    return run_stages(type2_copy, "CM-02")


def test_summary_names_the_control_population_sample_and_result(stages, type2_copy):
    test = stages["test"]
    text = test.summary()
    assert text.startswith("CM-02 (Change management) — Acme Cloud, Inc., SOC 2 Type 2 2025-07-01 to 2026-06-30")
    file_sha256 = hashlib.sha256((type2_copy / "populations" / "jira_changes_FY26.csv").read_bytes()).hexdigest()
    assert f"SHA-256 {file_sha256[:12]}..., receipt version 1" in text
    # CM-02 tests the standard and normal changes deployed in the period (its record filter), read from the raw file
    in_scope = len(raw_in_scope(type2_copy, "2025-07-01", "2026-06-30"))
    assert in_scope == 1467 and f"; {in_scope:,} in scope" in text
    # the seed is derived from the engagement, the sample (shared with CM-01) and the population file
    sample = "changes[change_type in standard, normal]"
    seed = int(hashlib.sha256(f"ACME-SOC2-T2-FY26|{sample}|{file_sha256}|period".encode()).hexdigest()[:8], 16)
    assert f"sample 22 (statistical, stratified, seed {seed}); 0 tested, 0 deviation(s) in the sample" in text
    assert "  conclusion: Testing in progress (proposed; not recorded yet)" in text.splitlines()
    assert "  result: Testing in progress (0 of 22 items tested)." in text.splitlines()
    assert f"inputs fingerprint {test.fingerprint.sha256}" in text


def test_stages_of_another_selection_are_refused(stages, type2_copy):
    other = run_stages(type2_copy, "CM-02", seed=12345)
    with pytest.raises(ValueError, match="the testing results are for another selection"):
        dataclasses.replace(stages["test"], selection=other["selection"])
    with pytest.raises(ValueError, match=r"control CM-02: no receipt for population\(s\) changes; run the receipt "
                                         r"stage \(pin_populations\) on every population tested\."):
        dataclasses.replace(stages["test"], receipts=())


def test_fingerprint_is_sha256_over_the_components_in_order(stages):
    fingerprint = stages["test"].fingerprint
    assert tuple(fingerprint.components) == FINGERPRINT_COMPONENTS
    expected = hashlib.sha256("".join(f"{name}={fingerprint.components[name]}\n"
                                      for name in FINGERPRINT_COMPONENTS).encode()).hexdigest()
    assert fingerprint.sha256 == expected
    # a component's hash is that of its canonical JSON: the populations are the receipts' SHA-256s
    populations = {r.population_id: r.sha256 for r in stages["receipts"]}
    assert fingerprint.components["populations"] == hashlib.sha256(
        json.dumps(populations, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_same_inputs_same_fingerprint(stages, type2_copy):
    again = run_stages(type2_copy, "CM-02")["test"].fingerprint
    assert again == stages["test"].fingerprint
    assert again.changed_since(stages["test"].fingerprint) == ()


def test_a_recorded_result_changes_the_results_component_only(stages, type2_copy):
    before = stages["test"].fingerprint
    key = stages["selection"].keys[0]
    with ResultsStore.open(stages["engagement"]) as store:
        store.record("CM-02", key, "testing_evidenced", "pass", tested_by="DR", evidence_ref="CI run 4411")
    after = run_stages(type2_copy, "CM-02")["test"].fingerprint
    assert after.changed_since(before) == ("results",)


def test_another_seed_changes_the_selection_component(stages, type2_copy):
    other = run_stages(type2_copy, "CM-02", seed=7)["test"].fingerprint
    assert other.changed_since(stages["test"].fingerprint) == ("selection",)


def test_policy_and_matrix_changes_are_seen(stages, type2_copy):
    toml = type2_copy / "engagement.toml"
    toml.write_text(toml.read_text().replace("tolerable_rate = 0.10", "tolerable_rate = 0.09"))
    changed = run_stages(type2_copy, "CM-02")["test"].fingerprint
    assert "policy" in changed.changed_since(stages["test"].fingerprint)
    control = dataclasses.replace(stages["control"], description="Changes are tested (reworded).")
    reworded = dataclasses.replace(stages["test"], control=control).fingerprint
    assert reworded.changed_since(stages["test"].fingerprint) == ("control",)


def test_fingerprint_record_is_json(stages):
    record = stages["test"].fingerprint.to_record()
    assert json.loads(json.dumps(record)) == record
    assert InputsFingerprint(record["components"], record["sha256"]) == stages["test"].fingerprint
    assert isinstance(stages["test"], ControlTest)
