"""The policy a control is tested under: each setting's value and where it came from.

Policy parameters (windows, SLAs, extension, minimum sample size; declared by each procedure, see
:class:`~workbench.procedures.base.PolicyParameter`) have one home each: the procedure's default, overridden
for the engagement by ``[policy.<procedure>]`` of engagement.toml, overridden for one control by
``[controls.<id>.policy]``. :func:`resolve_policy` applies the three in that order; the workpaper lists every
value used with its source, so nothing is assumed silently.

Public API::

    resolve_policy(engagement, control, procedure=None) -> ControlPolicy
    ControlPolicy.value(name) -> int | str | bool        .to_table(), .summary()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from workbench.engagement import Control, Engagement, FrozenMapping
from workbench.errors import ParameterError
from workbench.library import procedure_of
from workbench.procedures import Procedure
from workbench.procedures.base import PolicyParameter, PolicyValue

__all__ = ["ControlPolicy", "resolve_policy", "PROCEDURE_DEFAULT"]

#: The source of a value nobody set.
PROCEDURE_DEFAULT = "procedure default"


@dataclass(frozen=True)
class ControlPolicy:
    """The policy settings a control is tested under.

    Attributes
    ----------
    control_id, procedure : str
    parameters : tuple of PolicyParameter
        Every setting the procedure has, in declaration order.
    values : Mapping[str, PolicyValue]
        Setting -> the value used.
    sources : Mapping[str, str]
        Setting -> where the value came from: ``procedure default``, ``engagement.toml [policy.<procedure>]``
        or ``engagement.toml [controls.<id>.policy]``.
    """

    control_id: str
    procedure: str
    parameters: tuple[PolicyParameter, ...]
    values: Mapping[str, PolicyValue]
    sources: Mapping[str, str]

    def value(self, name: str) -> PolicyValue:
        """The value of a setting.

        Raises
        ------
        ParameterError
            The procedure has no such setting (a bug in a procedure, or a typo in a firm procedure file).
        """
        if name not in self.values:
            raise ParameterError(f"procedure {self.procedure!r} has no policy setting {name!r}; its settings: "
                                 f"{', '.join(self.values)}.")
        return self.values[name]

    def integer(self, name: str) -> int:
        """A whole-number setting."""
        value = self.value(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"policy setting {name!r} of {self.procedure!r} is not a whole number: {value!r}.")
        return value

    def text(self, name: str) -> str:
        """A text or choice setting."""
        return str(self.value(name))

    def to_table(self) -> list[tuple[str, str]]:
        """(setting, value and source) rows for the workpaper."""
        return [(p.name, f"{p.describe(self.values[p.name])} ({self.sources[p.name]})") for p in self.parameters]

    def to_rows(self) -> list[tuple[str, str, str, str]]:
        """(setting, value, source, what it decides) rows for the workpaper's policy table."""
        return [(p.name, p.describe(self.values[p.name]), self.sources[p.name], p.description)
                for p in self.parameters]

    def summary(self) -> str:
        """One line per setting that is not the procedure default, or a note that all are."""
        changed = [f"{p.name} = {p.describe(self.values[p.name])} ({self.sources[p.name]})"
                   for p in self.parameters if self.sources[p.name] != PROCEDURE_DEFAULT]
        head = f"{self.control_id}: policy of {self.procedure}"
        return head + (": " + "; ".join(changed) if changed else ": every setting at the procedure default")


def resolve_policy(engagement: Engagement, control: Control, procedure: Procedure | None = None) -> ControlPolicy:
    """The policy ``control`` is tested under: procedure defaults, then the engagement's, then the control's.

    Raises
    ------
    ParameterError
        The control has no procedure.
    """
    if control.procedure is None:
        raise ParameterError(f"control {control.id} has no procedure, so it has no test policy.")
    procedure = procedure or procedure_of(engagement, control)
    engagement_values = engagement.policies.get(procedure.name, {})
    control_values = engagement.control_policies.get(control.id, {})
    values: dict[str, PolicyValue] = {}
    sources: dict[str, str] = {}
    for parameter in procedure.policy_parameters:
        values[parameter.name], sources[parameter.name] = parameter.default, PROCEDURE_DEFAULT
        if parameter.name in engagement_values:
            values[parameter.name] = engagement_values[parameter.name]
            sources[parameter.name] = f"engagement.toml [policy.{procedure.name}]"
        if parameter.name in control_values:
            values[parameter.name] = control_values[parameter.name]
            sources[parameter.name] = f"engagement.toml [controls.{control.id}.policy]"
    return ControlPolicy(control_id=control.id, procedure=procedure.name, parameters=procedure.policy_parameters,
                         values=FrozenMapping(values), sources=FrozenMapping(sources))
