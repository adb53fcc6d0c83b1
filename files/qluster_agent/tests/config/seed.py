"""The agent's config.yaml exactly as seed 000 §6.3 prints it (qluster-01), kept verbatim."""

SEED_CONFIG_YAML = '''\
ip: "192.168.90.48"
api-port: 8080

udp:
  socket:
    group: "239.0.0.1:9999"
    interface: "ens18"
    pacing-rate: 268435456
    loopback: false
    send-buffer-size: 1048576
    recv-buffer-size: 1048576
  max-log-size: 64000
  send-buffer-capacity: 256
  recv-buffer-capacity: 256

cluster:
  node-timeout: 30s
  heartbeat-interval: 10s
  pre-voting-timeout: 10s
  leader-voting-timeout: 10s
  quorum-replication: true
  replication-factor: 0
  replication-retry-interval: 1s
  autoremove-enabled: false
  autoremove-minimum: 3
  remove-interval: 1m
  set-leader-timeout: 30s

hello-retry-interval: 1s
'''

# The POST /config body of seed 000 §10.5.
SEED_CONFIG_POST_BODY = {
    "autoremove-enabled": True,
    "autoremove-minimum": 0,
    "heartbeat-interval": "5s",
    "leader-voting-timeout": "5s",
    "node-timeout": "5s",
    "pre-voting-timeout": "5s",
    "quorum-replication": True,
    "replication-factor": 0,
    "replication-retry-interval": "1s",
}
