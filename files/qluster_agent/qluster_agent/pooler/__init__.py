"""The pooler host's side: keeping HAProxy's backends equal to the cluster's members."""
