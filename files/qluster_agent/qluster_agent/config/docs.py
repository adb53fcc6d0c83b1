"""Render the key table of docs/agent-config.md from KEYS and POSTGRES_KEYS.

Regenerate after changing keys.py:
    python -m qluster_agent.config.docs docs/agent-config.md
The part between the markers is replaced; the prose around it is kept.
"""

from __future__ import annotations

import sys

from .durations import format_duration
from .keys import ALL_KEYS, DERIVED, REQUIRED, KeySpec

BEGIN = "<!-- BEGIN GENERATED KEY TABLE (python -m qluster_agent.config.docs) -->"
END = "<!-- END GENERATED KEY TABLE -->"


def _default(spec: KeySpec) -> str:
    if spec.default is REQUIRED:
        return "**required**"
    if spec.default is DERIVED:
        return "derived (see text)"
    if spec.default is None:
        return "not set"
    if spec.kind == "duration":
        return f"`{format_duration(spec.default)}`"
    if isinstance(spec.default, bool):
        return f"`{str(spec.default).lower()}`"
    if hasattr(spec.default, "value"):  # an Enum
        return f"`{spec.default.value}`"
    if spec.default in ((), {}):
        return "empty"
    return f"`{spec.default}`"


def render_key_table() -> str:
    lines = [BEGIN, "", "| key | type | default | range | runtime | meaning |", "|---|---|---|---|---|---|"]
    for spec in ALL_KEYS:
        name = f"`{spec.path}`" + (" (extension)" if spec.extension else "")
        allowed = f"`{spec.range_text}`" if spec.range_text else ""
        runtime = "yes" if spec.runtime else ""
        kind, doc = (text.replace("|", "\\|") for text in (spec.kind, spec.doc))
        lines.append(f"| {name} | {kind} | {_default(spec)} | {allowed} | {runtime} | {doc} |")
    lines += ["", END]
    return "\n".join(lines)


def replace_key_table(document: str) -> str:
    head, _unused, rest = document.partition(BEGIN)
    _unused, _unused, tail = rest.partition(END)
    return head + render_key_table() + tail


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m qluster_agent.config.docs docs/agent-config.md", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as stream:
        document = stream.read()
    if BEGIN not in document or END not in document:
        print(f"{argv[0]}: markers not found", file=sys.stderr)
        return 1
    with open(argv[0], "w", encoding="utf-8") as stream:
        stream.write(replace_key_table(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
