"""Lab tools: small programs for tests and benchmarks, not part of the running agent."""
