"""qluster_config refuses a value out of its key's range before any API call, in every mode.

The fake API records every call; for a refused value it must record none.
"""

from __future__ import annotations

import pytest

from ansible_collections.qhb.qluster.plugins.modules.qluster_config import ConfigModule


class Failed(Exception):
    pass


class Module:
    def __init__(self, settings, check_mode=False, diff=False):
        self.params = {"settings": settings}
        self.check_mode = check_mode
        self._diff = diff

    def fail_json(self, **result):
        raise Failed(result)


class Api:
    def __init__(self):
        self.calls = []
        self.config = {"node-timeout": "800ms", "heartbeat-interval": "100ms", "set-leader-timeout": "5s"}

    def get(self, path, accept=(200,)):
        self.calls.append(("GET", path))
        return dict(self.config)

    def post(self, path, body):
        self.calls.append(("POST", path, body))
        self.config.update(body)
        return dict(self.config)


MODES = [dict(), dict(check_mode=True), dict(diff=True), dict(check_mode=True, diff=True)]


@pytest.mark.parametrize("mode", MODES, ids=repr)
def test_out_of_range_fails_before_any_api_call(mode):
    api = Api()
    settings = {"node-timeout": "99999999999999999999h", "set_leader_timeout": "11m", "heartbeat-interval": "1s"}
    with pytest.raises(Failed) as failed:
        ConfigModule(Module(settings, **mode), api).run()
    assert failed.value.args[0]["problems"] == [
        "node-timeout: '99999999999999999999h' is out of range 100ms..1m",
        "set-leader-timeout: '11m' is out of range 1s..10m",
    ]
    assert api.calls == []


@pytest.mark.parametrize("mode", MODES, ids=repr)
def test_in_range_values_are_planned_and_sent_outside_check_mode(mode):
    api = Api()
    result = ConfigModule(Module({"node-timeout": "1m", "set-leader-timeout": "10m"}, **mode), api).run()
    assert result["planned"] == {"node-timeout": "1m", "set-leader-timeout": "10m"}
    posts = [call for call in api.calls if call[0] == "POST"]
    assert posts == ([] if mode.get("check_mode") else [("POST", "/config", result["planned"])])


class PauseApi(Api):
    """The map's `paused` flag, changed by POST /pause and /resume."""

    def __init__(self, paused=False):
        super().__init__()
        self.paused = paused

    def get(self, path, accept=(200,)):
        if path == "/map":
            self.calls.append(("GET", path))
            return {"leader": 1, "paused": self.paused, "members": []}
        return super().get(path, accept)

    def post(self, path, body):
        if path in ("/pause", "/resume"):
            self.calls.append(("POST", path, body))
            self.paused = path == "/pause"
            return {"message": "done", "paused": self.paused}
        return super().post(path, body)


def pause_module(paused, settings=None, **mode):
    module = Module(settings, **mode)
    module.params["paused"] = paused
    return module


@pytest.mark.parametrize("mode", MODES, ids=repr)
def test_paused_check_mode_reports_then_apply_then_unchanged(mode):
    api = PauseApi()
    result = ConfigModule(pause_module(True, **mode), api).run()
    assert (result["changed"], result["paused"]) == (True, True)
    if mode.get("diff"):
        assert result["diff"] == {"before": {"paused": False}, "after": {"paused": True}}
    if mode.get("check_mode"):
        assert api.paused is False and ("POST", "/pause", {}) not in api.calls
        return
    assert api.paused is True and ("POST", "/pause", {}) in api.calls
    again = ConfigModule(pause_module(True, **mode), api).run()
    assert (again["changed"], again["paused"]) == (False, True)
    assert [call for call in api.calls if call[0] == "POST"] == [("POST", "/pause", {})]
    resumed = ConfigModule(pause_module(False, **mode), api).run()
    assert (resumed["changed"], api.paused) == (True, False)
    assert api.calls[-1] == ("POST", "/resume", {})


def test_paused_beside_settings_changes_both():
    api = PauseApi(paused=True)
    result = ConfigModule(pause_module(False, {"node-timeout": "1m"}, diff=True), api).run()
    assert result["changed"] and result["paused"] is False and result["sent"] == {"node-timeout": "1m"}
    assert result["diff"]["before"]["paused"] is True and result["diff"]["after"]["node-timeout"] == "1m"
    # Settings that are already in force and a mode already set: nothing changes.
    result = ConfigModule(pause_module(False, {"node-timeout": "1m"}), api).run()
    assert result["changed"] is False
