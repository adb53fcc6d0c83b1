"""The scripted agent the module tests drive the modules with: map rows, an API whose GET /map
answers come from a list and whose changes are recorded, and a clock that sleeps instantly."""

from __future__ import annotations


def member(node_id, **fields):
    """A healthy streaming follower's map row, ``fields`` changed."""
    row = {"id": node_id, "name": f"q{node_id}", "address": f"10.0.0.{node_id}", "api_port": 8080, "role": "follower",
           "voter": True, "state": "healthy", "db_role": "replica", "streaming": True, "lag_bytes": 0}
    row.update(fields)
    return row


class Api:
    """GET /map answers from ``maps`` in turn (the last one repeats; an exception is raised);
    changes are recorded in ``sent``; ``on_delete(api)`` runs after a DELETE."""

    def __init__(self, maps, on_delete=None):
        self.maps = list(maps)
        self.sent = []
        self.on_delete = on_delete

    def get(self, path, accept=(200,)):
        assert path == "/map"
        answer = self.maps.pop(0) if len(self.maps) > 1 else self.maps[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def post(self, path, body):
        self.sent.append(("POST", path, body))
        return {}

    def delete(self, template, target):
        self.sent.append(("DELETE", template % target))
        if self.on_delete:
            self.on_delete(self)
        return {}

    def url_for(self, path):
        return "http://127.0.0.1:8080" + path


class Clock:
    """``clock()`` is the time; ``clock.sleep(seconds)`` moves it on at once."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
