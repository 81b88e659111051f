"""The control library: test procedures, their attributes, and the registry that finds them.

A *procedure* is the auditor's test of one type of control (change management, user provisioning, ...).
It is declared as data (:class:`~workbench.procedures.base.Procedure`): the population kind it samples,
the date that places an item in the period, the Section 4 wording of the test, and its attributes
(automated checks computed from the population, or manual judgements recorded in the results store).

The catalogue :data:`KNOWN_PROCEDURES` lists every procedure name a control matrix may use. A name in
the catalogue whose module does not exist yet is *known but not implemented*: the control reads
"not yet tested". A name outside the catalogue is an error.

Adding a procedure means writing one module ``workbench/procedures/<name>.py`` that defines a module-level
``PROCEDURE`` (a :class:`Procedure`) and adding ``<name>`` to :data:`KNOWN_PROCEDURES`; the registry finds it
by name. Nothing else is special-cased.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util

from workbench.errors import InputError
from workbench.procedures.base import Attribute, AttributeCheck, Procedure

__all__ = [
    "KNOWN_PROCEDURES",
    "ProcedureError",
    "UnknownProcedureError",
    "ProcedureNotImplementedError",
    "is_known",
    "is_implemented",
    "implemented_procedures",
    "get_procedure",
    "Attribute",
    "Procedure",
    "AttributeCheck",
]

#: Every procedure name a control matrix may use, in catalogue order. Only the names whose module exists
#: are implemented (see :func:`is_implemented`); the others read "not yet tested".
KNOWN_PROCEDURES: tuple[str, ...] = (
    "change_management",
    "emergency_change",
    "deployment_reconciliation",
    "user_provisioning",
    "user_deprovisioning",
    "access_review",
    "privileged_access",
    "incident_management",
    "backup_monitoring",
    "vendor_management",
    "security_training",
    "new_hire_onboarding",
    "inspection",
    "automated_control",
)


class ProcedureError(InputError):
    """A procedure name that cannot be used."""


class UnknownProcedureError(ProcedureError):
    """A procedure name outside :data:`KNOWN_PROCEDURES`."""


class ProcedureNotImplementedError(ProcedureError):
    """A procedure name in the catalogue whose module has not been written yet ("not yet tested")."""


def is_known(name: str) -> bool:
    """Whether ``name`` is in the catalogue :data:`KNOWN_PROCEDURES`."""
    return name in KNOWN_PROCEDURES


def is_implemented(name: str) -> bool:
    """Whether ``name`` is in the catalogue and its module ``workbench.procedures.<name>`` exists."""
    if name not in KNOWN_PROCEDURES:
        return False
    return importlib.util.find_spec(f"{__name__}.{name}") is not None


def implemented_procedures() -> tuple[str, ...]:
    """The catalogue names that have an implementation, in catalogue order."""
    return tuple(name for name in KNOWN_PROCEDURES if is_implemented(name))


_CACHE: dict[str, Procedure] = {}


def get_procedure(name: str) -> Procedure:
    """Return the :class:`Procedure` registered under ``name``.

    Parameters
    ----------
    name : str
        A name from :data:`KNOWN_PROCEDURES`, as written in the control matrix's ``procedure`` column.

    Returns
    -------
    Procedure

    Raises
    ------
    UnknownProcedureError
        ``name`` is not in the catalogue; the message suggests the closest known name.
    ProcedureNotImplementedError
        ``name`` is in the catalogue but has no implementation yet (the control reads "not yet tested").
    """
    if not isinstance(name, str) or name not in KNOWN_PROCEDURES:
        close = difflib.get_close_matches(str(name), KNOWN_PROCEDURES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownProcedureError(
            f"procedure {name!r} is not a known procedure name.{hint} "
            f"Use one of: {', '.join(KNOWN_PROCEDURES)}."
        )
    if name in _CACHE:
        return _CACHE[name]
    if not is_implemented(name):
        raise ProcedureNotImplementedError(
            f"procedure {name!r} is in the catalogue but not implemented yet, so its controls read "
            f"\"not yet tested\". Implemented: {', '.join(implemented_procedures()) or 'none'}."
        )
    module = importlib.import_module(f"{__name__}.{name}")
    procedure = getattr(module, "PROCEDURE", None)
    if not isinstance(procedure, Procedure) or procedure.name != name:
        raise TypeError(  # a bug in the procedure module, not user input
            f"workbench.procedures.{name} must define PROCEDURE = Procedure(name={name!r}, ...)."
        )
    _CACHE[name] = procedure
    return procedure

