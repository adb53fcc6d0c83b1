from qluster_agent.config import (
    cluster_settings_to_json,
    default_cluster_settings,
    parse_config,
    validate_cluster_update,
)

from .seed import SEED_CONFIG_POST_BODY


def test_the_seed_post_body_is_accepted_and_keeps_unnamed_keys():
    base = parse_config({"ip": "10.0.0.1", "cluster": {"remove-interval": "2m"}}).cluster
    settings, problems = validate_cluster_update(SEED_CONFIG_POST_BODY, base=base)
    assert problems == []
    assert settings.autoremove_enabled is True and settings.autoremove_minimum == 0
    assert settings.heartbeat_interval == settings.node_timeout == 5.0
    assert settings.pre_voting_timeout == settings.leader_voting_timeout == 5.0
    assert settings.replication_retry_interval == 1.0
    assert settings.remove_interval == 120.0  # not in the body: kept from base
    assert settings.set_leader_timeout == base.set_leader_timeout


def test_without_a_base_unnamed_keys_take_the_defaults():
    settings, problems = validate_cluster_update({"node-timeout": "2s"})
    assert problems == []
    assert settings.node_timeout == 2.0
    assert settings.heartbeat_interval == default_cluster_settings().heartbeat_interval


def test_every_bad_key_is_reported_and_nothing_is_returned():
    settings, problems = validate_cluster_update({
        "node-timeout": "abc",
        "heartbeat-interval": 5,
        "quorum-replication": "true",
        "replication-factor": -1,
        "api-port": 9000,
        "heartbeat_interval": "1s",
        "flavour": "qhb",
    })
    assert settings is None
    assert problems == [
        "node-timeout: 'abc' is not a duration (use e.g. 500ms, 5s, 1m)",
        "heartbeat-interval: 5 has no unit (use e.g. 500ms, 5s, 1m)",
        "quorum-replication: 'true' is not a boolean (use true or false)",
        "replication-factor: -1 is out of range 0..1000",
        "api-port: not changeable at runtime (edit config.yaml and restart)",
        "heartbeat_interval: unknown key (did you mean heartbeat-interval?)",
        "flavour: unknown key",
    ]


def test_cross_key_rules_apply_to_the_merged_result():
    base, _unused = validate_cluster_update({"node-timeout": "1s", "heartbeat-interval": "200ms"})
    settings, problems = validate_cluster_update({"heartbeat-interval": "2s"}, base=base)
    assert settings is None
    assert problems == ["heartbeat-interval: '2s' is out of range 10ms..1s at node-timeout '1s'"]
    _unused, problems = validate_cluster_update({"quorum-replication": False})
    assert problems == [
        "replication-factor: 0 with quorum-replication false leaves no commit rule "
        "(set quorum-replication: true or replication-factor >= 1)"
    ]
    settings, problems = validate_cluster_update({"quorum-replication": False, "replication-factor": 2})
    assert problems == [] and settings.replication_factor == 2


def test_a_body_that_is_not_an_object_is_refused():
    assert validate_cluster_update(["node-timeout"]) == (None, ["the body must be a JSON object, not list"])


def test_settings_render_back_as_a_body_that_validates_to_the_same_settings():
    settings, _unused = validate_cluster_update(SEED_CONFIG_POST_BODY)
    body = cluster_settings_to_json(settings)
    assert body == {
        "node-timeout": "5s",
        "heartbeat-interval": "5s",
        "pre-voting-timeout": "5s",
        "leader-voting-timeout": "5s",
        "quorum-replication": True,
        "replication-factor": 0,
        "replication-retry-interval": "1s",
        "autoremove-enabled": True,
        "autoremove-minimum": 0,
        "remove-interval": "1m",
        "set-leader-timeout": "5s",
    }
    assert validate_cluster_update(body) == (settings, [])
    assert cluster_settings_to_json(default_cluster_settings())["node-timeout"] == "800ms"
