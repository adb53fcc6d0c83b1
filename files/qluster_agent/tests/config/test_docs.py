from pathlib import Path

from qluster_agent.config.keys import ALL_KEYS
from qluster_agent.config.docs import BEGIN, END, render_key_table

DOC = Path(__file__).resolve().parents[4] / "docs" / "agent-config.md"


def test_the_doc_lists_every_key():
    text = DOC.read_text(encoding="utf-8")
    for spec in ALL_KEYS:
        assert f"`{spec.path}`" in text, f"{spec.path} is missing from {DOC}"


def test_the_generated_table_in_the_doc_is_current():
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index(BEGIN):text.index(END) + len(END)]
    assert table == render_key_table(), "regenerate: python -m qluster_agent.config.docs docs/agent-config.md"
