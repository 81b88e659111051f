"""Fuzzing the CSV loader: any bytes give a Population or a PopulationError, never anything else."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import PopulationError
from workbench.population import Population, load_population_file
from workbench.validation import check_population

HEADER = "change_id,title,change_type,status,author,approver,created_at,approved_at,deployed_at,system\n"

cells = st.one_of(
    st.sampled_from(["", "?", "N/A", "CHG-1", "2025-08-01T10:00:00Z", "16/Feb/26 3:29 PM", "6/21/2025 16:14",
                     "standard", "Emergency", '"quoted, comma"', '"multi\nline"', "\ufeff", "\x96", "null"]),
    st.text(max_size=12),
)
rows = st.lists(st.lists(cells, min_size=0, max_size=12).map(lambda r: ",".join(r)), max_size=8)


def _load(data: bytes, kind: str = "changes") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(data)
        try:
            population = load_population_file(path, kind=kind, timezone="America/New_York")
        except PopulationError as err:
            assert str(path) in str(err)
            _, report = check_population(path, kind=kind, timezone="America/New_York")
            assert not report.usable
            return
        assert isinstance(population, Population)
        assert population.rows_received == len(population.frame)
        _, report = check_population(path, kind=kind, timezone="America/New_York",
                                     period_start="2025-07-01", period_end="2026-06-30")
        assert isinstance(report.usable, bool)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data):
    _load(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows, st.sampled_from([",", ";", "\t"]), st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
       st.booleans())
def test_csv_like_text(body, delimiter, encoding, with_header):
    text = (HEADER if with_header else "") + "\n".join(body)
    _load(text.replace(",", delimiter).encode(encoding, errors="replace"))


@settings(max_examples=60, deadline=None)
@given(rows, st.sampled_from(["users", "incidents", "terminations", "deployments"]))
def test_other_kinds(body, kind):
    _load(("user,arn,user_creation_time\n" + "\n".join(body)).encode())
    _load(("\n".join(body)).encode(), kind=kind)
