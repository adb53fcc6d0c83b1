"""qlusterctl: the operator's command line, a client of the agent's HTTP API."""
