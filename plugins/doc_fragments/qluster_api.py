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
      - Without a token the agent accepts changes only from its own host (loopback).
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
      - The agent itself serves plain HTTP; C(https://) applies when a TLS-terminating proxy stands in front of it.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the certificate authority that signed the server's certificate (see O(validate_certs)).
    type: path
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
