"""The one exception the configuration layer raises."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, rendered as ONE line that names the key and the value.

    ``problems`` keeps every problem found (each already starting with its key path) so a caller
    can list them separately; ``str()`` joins them on one line because an operator reading a
    failed ``systemctl start`` sees only the last line of the journal.
    """

    def __init__(self, problems: list[str]) -> None:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems = list(problems)
        super().__init__("config error: " + "; ".join(self.problems))
