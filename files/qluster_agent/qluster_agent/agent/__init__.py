"""The agent: wires consensus, the database supervisor and the API together (the one place)."""
