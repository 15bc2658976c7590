"""The one error type of the replay package: bad episode files, missing ROMs, bad start-state names."""
from __future__ import annotations


class ReplayError(ValueError):
    """A problem with an episode file or a replay request; the message names the file and the fix."""
