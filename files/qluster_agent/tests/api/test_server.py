"""The router served over a real socket: what curl and HAProxy see."""

from __future__ import annotations

import http.client
import json

import pytest

from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer

from .fakes import RecordingBackend


@pytest.fixture
def server():
    srv = ApiServer(Router(RecordingBackend()), "127.0.0.1", 0).start()
    yield srv
    srv.close()


def request(server, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_get_map_over_http(server):
    status, data = request(server, "GET", "/map")
    assert status == 200
    assert json.loads(data)["leader"] == 1


def test_head_and_options_on_health(server):
    assert request(server, "HEAD", "/primary") == (200, b"")
    assert request(server, "OPTIONS", "/primary")[0] == 200


def test_post_with_bad_json_is_400(server):
    status, data = request(server, "POST", "/config", body=b"{")
    assert status == 400
    assert "not valid JSON" in json.loads(data)["error"]
