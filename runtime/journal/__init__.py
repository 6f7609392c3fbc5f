"""The alarm journal: SQLite, the record of truth. Every alarm event is committed here before
any sink signals it; `vigil alarms` and `vigil report` read it back (read-only)."""

from vigil.runtime.journal.store import (
    DEFAULT_JOURNAL_PATH,
    NUMERICS_COMMIT_S,
    Journal,
    JournalError,
    JournalWriteError,
)

__all__ = [
    "DEFAULT_JOURNAL_PATH",
    "NUMERICS_COMMIT_S",
    "Journal",
    "JournalError",
    "JournalWriteError",
]
