"""Who did it: a member of the engagement's staff, never the operating-system account.

Workpapers and the results store name the people who did the work by their initials from the engagement's
``[[staff]]`` list (AU-C 230: who performed the work and when). The operating-system account and the host that
ran a command are recorded *beside* the initials (they show which machine and login were used), never instead
of them.

When a command is not told who runs it (``--by``), the **engagement's default** is used: the first preparer
of the ``[[staff]]`` list (put the person who usually runs the workbench first). ``workbench run`` has no
``--by``: the populations it pins on first use are pinned by that default preparer.

Public API::

    staff_member(engagement, who, *, roles=None, what) -> StaffMember
    default_staff(engagement) -> StaffMember
    os_account() -> OsAccount            .user, .host, .text ("user@host")
"""

from __future__ import annotations

import getpass
import platform
from collections.abc import Collection
from dataclasses import dataclass

from workbench.engagement import Engagement, StaffMember
from workbench.errors import ParameterError

__all__ = ["staff_member", "default_staff", "os_account", "OsAccount"]


@dataclass(frozen=True)
class OsAccount:
    """The operating-system login and host that ran a command (recorded beside the staff member's initials).

    Attributes
    ----------
    user : str
        The login name, or ``"unknown"`` when the system does not tell.
    host : str
        The host name, or ``"unknown"``.
    """

    user: str
    host: str

    @property
    def text(self) -> str:
        """``user@host``."""
        return f"{self.user}@{self.host}"


def os_account() -> OsAccount:
    """The login name and host name of this process (``unknown`` for what the system does not tell)."""
    try:
        user = getpass.getuser().strip()
    except Exception:  # getpass raises OSError (or KeyError on some platforms) without a login name
        user = ""
    host = platform.node().strip()
    return OsAccount(user or "unknown", host or "unknown")


def staff_member(engagement: Engagement, who: str | None, *, roles: Collection[str] | None = None,
                 what: str) -> StaffMember:
    """The staff member named by initials or name (any case), in one of ``roles``.

    Parameters
    ----------
    engagement : Engagement
    who : str or None
        Initials or name as typed (``--by``); None: the engagement's default (:func:`default_staff`).
    roles : collection of str, optional
        Staff roles allowed to do ``what``; None: any role.
    what : str
        What is being done, for messages (``"a reviewer sign-off"``).

    Raises
    ------
    ParameterError
        Nobody on the staff list has these initials or this name, or the member's role may not do ``what``.
        The message lists who may.
    """
    if who is None:
        member = default_staff(engagement)
    else:
        if not isinstance(who, str) or not who.strip():
            raise ParameterError(f"{what}: --by must give the initials or name of a member of the staff, got {who!r}.")
        folded = who.strip().casefold()
        found = next((m for m in engagement.staff if folded in (m.initials.casefold(), m.name.casefold())), None)
        if found is None:
            raise ParameterError(
                f"{what}: {who.strip()!r} is not on the staff list of engagement {engagement.engagement_id} "
                f"({_listing(engagement.staff, roles)}). Give the initials of a member of [[staff]] in "
                f"engagement.toml, or add the person there; the operating-system account is never used instead.")
        member = found
    if roles is not None and member.role not in roles:
        raise ParameterError(
            f"{what}: {member.name} ({member.initials}) is on the staff as {member.role}, and {what} is given by a "
            f"{' or '.join(sorted(roles))} ({_listing(engagement.staff, roles)}).")
    return member


def default_staff(engagement: Engagement) -> StaffMember:
    """The engagement's default member of the staff: its first preparer (a loaded engagement always has one)."""
    member = next((m for m in engagement.staff if m.role == "preparer"), None)
    if member is None:
        raise ParameterError(f"engagement {engagement.engagement_id} has no preparer on its staff list, so nobody "
                             f"runs the workbench by default; give --by, or add a preparer to [[staff]].")
    return member


def _listing(staff: tuple[StaffMember, ...], roles: Collection[str] | None) -> str:
    allowed = [m for m in staff if roles is None or m.role in roles]
    if not allowed:
        return "nobody on the staff list may"
    return ", ".join(f"{m.initials} {m.name}, {m.role}" for m in allowed)
