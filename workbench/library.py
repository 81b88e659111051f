"""The control library of an engagement: which :class:`~workbench.procedures.base.Procedure` tests a control.

A control matrix names a procedure for each control. It is one of three:

* a procedure of the package's catalogue (:data:`workbench.procedures.KNOWN_PROCEDURES`), the same for every
  control that names it;
* ``inspection``, whose attributes are the control's own (the matrix's ``Manual attributes`` column), so the
  procedure is built per control (:func:`workbench.procedures.inspection.for_control`);
* a firm procedure, declared in a TOML file of the engagement's ``procedures/`` folder or of the firm library
  named by ``[engagement] procedure_library`` (:attr:`workbench.engagement.Engagement.procedures`;
  docs/procedures-library.md).

Every stage looks a control's procedure up through :func:`procedure_of`, never by name alone.

Public API::

    procedure_of(engagement, control) -> Procedure
    resolve_procedure(name, *, procedures=None, manual_attributes=(), frequency="") -> Procedure
    is_testable(engagement, control) -> bool
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from workbench.engagement.model import Control, Engagement
from workbench.errors import EngagementError, ParameterError
from workbench.procedures import get_procedure, is_implemented
from workbench.procedures.base import Procedure
from workbench.procedures.inspection import for_control

__all__ = ["procedure_of", "resolve_procedure", "is_testable"]


@lru_cache(maxsize=256)
def _inspection(lines: tuple[str, ...], frequency: str) -> Procedure:
    return for_control(lines, frequency)


def resolve_procedure(name: str, *, procedures: Mapping[str, Procedure] | None = None,
                      manual_attributes: Sequence[str] = (), frequency: str = "") -> Procedure:
    """The procedure called ``name``: a firm procedure of ``procedures``, the ``inspection`` procedure built
    from ``manual_attributes`` (the control's lines) and ``frequency``, or the catalogue's.

    Raises
    ------
    UnknownProcedureError, ProcedureNotImplementedError
        A name neither the firm's nor in the catalogue, or one not implemented yet.
    EngagementError
        A bad ``Manual attributes`` line.
    """
    if procedures and name in procedures:
        return procedures[name]
    if name == "inspection":
        try:
            return _inspection(tuple(manual_attributes), frequency)
        except ValueError as error:
            raise EngagementError(f"Manual attributes: {error}") from None
    return get_procedure(name)


def procedure_of(engagement: Engagement, control: Control) -> Procedure:
    """The procedure that tests ``control`` in ``engagement`` (firm, inspection with its own attributes, or the
    catalogue's).

    Raises
    ------
    ParameterError
        The control has no procedure (it reads "not yet tested").
    ProcedureError
        Its procedure is not implemented.
    """
    if control.procedure is None:
        raise ParameterError(f"control {control.id} has no procedure: it is not tested by the workbench.")
    return resolve_procedure(control.procedure, procedures=engagement.procedures,
                             manual_attributes=control.manual_attributes, frequency=control.frequency)


def is_testable(engagement: Engagement, control: Control) -> bool:
    """Whether the workbench tests ``control``: it names a firm procedure or an implemented one of the catalogue."""
    name = control.procedure
    return bool(name) and (name in engagement.procedures or is_implemented(str(name)))
