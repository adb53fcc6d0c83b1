"""qluster agent: QRaft consensus, PostgreSQL supervisor, HTTP API and CLI for qhb.qluster."""

__version__ = "0.1.0"
