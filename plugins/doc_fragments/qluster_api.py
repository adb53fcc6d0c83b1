# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment:
    """The agent API's connection options (mirror of module_utils/qluster_api.py api_argument_spec)."""

    DOCUMENTATION = r'''
options:
  api_url:
    description:
      - Base URL of a qluster agent's HTTP API, for example C(http://10.0.0.11:8080).
      - Any member's agent answers; a change sent to a follower is carried out by the leader.
      - Set it once for every module of the collection with
        C(module_defaults) and the action group C(group/qhb.qluster.api).
    type: str
    default: http://127.0.0.1:8080
  api_token:
    description:
      - Bearer token for the changing endpoints, the agent's C(api-token).
      - When left out, the token is read from the agent's config file on the managed host (see
        O(agent_config)), from its C(api-token) or the file its C(api-token-file) names, if readable.
      - Without a token an agent accepts changes only from its own host (loopback), and with one only
        if its C(api-trust-loopback) is true.
    type: str
  api_timeout:
    description:
      - Seconds to wait for one HTTP answer.
    type: float
    default: 15
  api_retries:
    description:
      - How many times a request answered with HTTP 503 (agent starting, no quorum yet) is
        repeated before the module fails. A read (GET) is also repeated after a connection failure.
      - V(0) disables retries.
    type: int
    default: 5
  api_retry_delay:
    description:
      - Seconds between two attempts of a retried request.
    type: float
    default: 1
  validate_certs:
    description:
      - Verify the server's TLS certificate when O(api_url) is C(https://).
      - An agent with C(api-certfile) speaks HTTPS on its node address and plain HTTP on 127.0.0.1,
        so the default O(api_url) needs no certificates.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the certificate authority that signed the server's certificate (see O(validate_certs)).
      - Defaults to the agent config's C(api-cafile) when that file is readable and the API speaks HTTPS.
    type: path
  client_cert:
    description:
      - PEM client certificate presented to an agent over HTTPS, signed by the agent's C(api-cafile).
      - An agent with C(api-verify-client) set to V(optional) (its default) takes a change over HTTPS
        only with one, besides the token; V(required) asks it for every request.
      - Defaults to the agent config's C(api-certfile) (with C(api-keyfile)) when both files are readable
        and the API speaks HTTPS.
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert), when that file does not hold it.
    type: path
  agent_config:
    description:
      - The qluster agent's config file on the managed host, read for what the options above leave
        out (the token, and with HTTPS the CA and client certificate), as C(qlusterctl) does.
      - When its C(api-certfile) is set, other members' agents are reached over C(https://) at their
        address (a member removal confirms on the leader's agent).
      - A missing or unreadable file is ignored; an empty string reads none.
    type: path
    default: /etc/qluster/config.yaml
'''

    ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the cluster.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
  action_group:
    description: Use C(group/qhb.qluster.api) in C(module_defaults) to set its API options once.
    support: full
    membership:
      - qhb.qluster.api
'''

    # FACTS_ATTRIBUTES repeats INFO_ATTRIBUTES and adds facts: ansible-test's yamllint reads each
    # attribute of a doc fragment as a literal string, so it cannot be built from the other.
    FACTS_ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Reads only; runs the same way in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
  facts:
    description: Returns its results as Ansible facts.
    support: full
  action_group:
    description: Use C(group/qhb.qluster.api) in C(module_defaults) to set its API options once.
    support: full
    membership:
      - qhb.qluster.api
'''

    INFO_ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Reads only; runs the same way in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
  action_group:
    description: Use C(group/qhb.qluster.api) in C(module_defaults) to set its API options once.
    support: full
    membership:
      - qhb.qluster.api
'''
