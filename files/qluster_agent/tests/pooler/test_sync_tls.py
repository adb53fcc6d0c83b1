"""qluster-haproxy-sync against nodes whose API speaks HTTPS (api-cafile in its settings)."""

from __future__ import annotations

import pytest

from qluster_agent.api.router import Router
from qluster_agent.api.server import ApiServer
from qluster_agent.api.tls import server_context
from qluster_agent.config.model import VerifyClient
from qluster_agent.pooler.plan import Member
from qluster_agent.pooler.settings import SettingsError, parse_settings
from qluster_agent.pooler.sync import Syncer, answers_primary, fetch_map, member_context

from ..api.fakes import RecordingBackend


@pytest.fixture
def https_node(pki):
    """A node's API over HTTPS that asks every client for a certificate."""
    server = ApiServer(Router(RecordingBackend()), "127.0.0.1", 0,
                       server_context(*pki.node, pki.ca, VerifyClient.REQUIRED)).start()
    yield server
    server.close()


def test_the_primary_check_and_the_map_go_over_https_with_the_settings_files(https_node, pki):
    certfile, keyfile = pki.client
    settings = parse_settings({"api-cafile": pki.ca, "api-certfile": certfile, "api-keyfile": keyfile,
                               "map-url": f"https://127.0.0.1:{https_node.port}/map"})
    context = member_context(settings)
    member = Member("qluster-01", "127.0.0.1", 5432, https_node.port)
    assert answers_primary(member, 5.0, context)
    assert fetch_map(settings.map_url, 5.0, context) == {"leader": 1, "members": []}
    # The syncer's own defaults carry the context.
    syncer = Syncer(settings, api=object(), context=context)
    assert syncer.ask_primary(member, 5.0)
    # Without the client certificate the node refuses; over plain HTTP it is not asked at all.
    assert not answers_primary(member, 5.0, member_context(parse_settings({"api-cafile": pki.ca})))
    assert not answers_primary(member, 5.0)


def test_plain_http_stays_the_default():
    assert member_context(parse_settings({})) is None


@pytest.mark.parametrize("raw, message", [
    ({"api-certfile": "/c.pem"}, "api-certfile: api-certfile and api-keyfile go together"),
    ({"api-certfile": "/c.pem", "api-keyfile": "/c.key"}, "api-certfile: set without api-cafile"),
    ({"api-cafile": "ca.pem"}, "api-cafile: 'ca.pem' is not an absolute path"),
])
def test_bad_tls_settings_are_named(raw, message):
    with pytest.raises(SettingsError, match=message):
        parse_settings(raw)


def test_an_unusable_file_is_named_by_its_key(pki):
    with pytest.raises(SettingsError) as error:
        member_context(parse_settings({"api-cafile": pki.path("node.key")}))
    assert str(error.value) == f"api-cafile: {pki.path('node.key')!r} holds no PEM certificate"
