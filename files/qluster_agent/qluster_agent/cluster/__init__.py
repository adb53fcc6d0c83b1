"""The cluster state replicated through consensus: runtime settings, member metadata, requests."""
