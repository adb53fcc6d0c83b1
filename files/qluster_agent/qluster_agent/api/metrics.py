"""Prometheus text exposition format (version 0.0.4) from (name, type, help, labels, value) rows."""

from __future__ import annotations


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(rows: list[tuple[str, str, str, dict[str, str], float]]) -> str:
    lines: list[str] = []
    described: set[str] = set()
    for name, kind, help_text, labels, value in rows:
        if name not in described:
            lines.append(f"# HELP {name} {_escape(help_text)}")
            lines.append(f"# TYPE {name} {kind}")
            described.add(name)
        label_text = ",".join(f'{key}="{_escape(str(val))}"' for key, val in sorted(labels.items()))
        number = int(value) if float(value).is_integer() else value
        lines.append(f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}")
    return "\n".join(lines) + "\n"
