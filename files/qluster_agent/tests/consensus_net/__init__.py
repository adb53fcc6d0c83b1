"""Real-socket tests of the consensus layer: node processes in network namespaces."""
