"""Exceptions the lab raises for the user to read (not programming errors)."""


class LabError(Exception):
    """A problem the user can fix: bad input, a missing tool, a daemon."""


class SpecError(LabError):
    """A declarative description (universe or scenario) is malformed.

    The message names where (file or domain), the field and why.
    """

    def __init__(self, where: str, field: str, why: str) -> None:
        self.where = where
        self.field = field
        self.why = why
        super().__init__(f"{where}: {field}: {why}")


class DaemonError(LabError):
    """A daemon failed to start or to become ready; the message names
    its log."""
