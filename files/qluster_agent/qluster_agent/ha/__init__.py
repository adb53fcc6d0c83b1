"""The HA decision layer: pure `decide(view, pg, now) -> Decision` plus the add_node marker."""
