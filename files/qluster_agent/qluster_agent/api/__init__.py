"""The agent's HTTP API: the seed's endpoints (/map, /config), member management, switchover,
reinit, the health endpoints routers use, metrics and an OpenAPI document."""
