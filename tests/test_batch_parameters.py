"""Notebook parameters are checked before papermill runs anything (papermill only warns)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.batch import check_parameters, notebook_for
from workbench.errors import ParameterError

NOTEBOOK = notebook_for("change_management")
GOOD = {"engagement_dir": "/x", "control_id": "CM-01", "output_dir": "/out"}


def test_good_parameters_pass():
    check_parameters(NOTEBOOK, GOOD)


def test_unknown_parameter_is_refused_with_the_declared_ones():
    # a seed is no longer a parameter: a chosen seed is recorded with who and why (workbench.judgements)
    with pytest.raises(ParameterError, match=r"control.ipynb: unknown parameter 'seed'; "
                                             r"the notebook declares control_id, engagement_dir, output_dir"):
        check_parameters(NOTEBOOK, {**GOOD, "seed": 1})


@pytest.mark.parametrize("name, value, expected", [
    ("output_dir", None, r"parameter 'output_dir' must be str, got None"),
    ("control_id", True, r"parameter 'control_id' must be str, got True"),
    ("control_id", 7, r"parameter 'control_id' must be str, got 7"),
    ("engagement_dir", Path("/x"), r"parameter 'engagement_dir' must be str, got PosixPath"),
])
def test_wrong_type_is_refused(name, value, expected):
    with pytest.raises(ParameterError, match=expected):
        check_parameters(NOTEBOOK, {**GOOD, name: value})


def test_missing_parameter_is_refused():
    parameters = dict(GOOD)
    del parameters["control_id"]
    with pytest.raises(ParameterError, match=r"parameters control_id must be given"):
        check_parameters(NOTEBOOK, parameters)
