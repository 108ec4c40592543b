"""The control plane's store: keys, teams, stored models, overrides, the audit trail.

One object over one database, each aggregate's statements in its own module
(``keys``, ``teams``, ``models``, ``overrides``, ``audit``); see ``tables`` for what
every write does.
"""

from __future__ import annotations

from gateway.control.audit import AuditTrail
from gateway.control.keys import KeyTable
from gateway.control.models import ModelTable
from gateway.control.overrides import OverrideTable
from gateway.control.teams import TeamTable
from gateway.ledger.control_db import open_control_db
from gateway.ledger.settings import LedgerSettings


class ControlStore(KeyTable, TeamTable, ModelTable, OverrideTable, AuditTrail):
    """Every control table, on one database's connections."""


def open_control_store(
    settings: LedgerSettings, *, purpose: str, connections: int, statement_timeout_s: float
) -> ControlStore:
    """A store on its own connections: Postgres when the ledger uses it, else its SQLite file."""
    return ControlStore(
        open_control_db(
            settings,
            purpose=purpose,
            connections=connections,
            statement_timeout_s=statement_timeout_s,
        )
    )
