"""The stream every Powertools logger of the project writes to."""

from __future__ import annotations

import sys


class CurrentStdout:
    """Writes to whatever sys.stdout is at the time of writing (Lambda's never changes; a test's
    redirect_stdout or capsys does), where a stream captured at import would not follow.

    Every project logger shares the service name, so Powertools configures the first one made
    and reuses its handler for the others: all of them must write here.
    """

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()
