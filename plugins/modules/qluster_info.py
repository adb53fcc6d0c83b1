#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: qluster_info
short_description: The cluster map of a qluster agent - leader, members and whether each is ready
version_added: 0.1.0
description:
  - Reads, and never changes, the agent's C(GET /map) and returns it with what playbooks ask of it - the
    leader, each member with its readiness, the voters that could take over, the leader's timeline,
    the largest lag and a few counts.
  - Reads the agent's C(GET /health) too, for which member answered (RV(answered_by)) and whether its node
    takes writes (RV(writable), the answer of the agent's C(GET /leader)).
  - A member is ready when its agent is heard from with no long operation running (state C(healthy)) and
    the leader runs the primary, any other voter's database streams from it as a replica; an observer
    (the pooler's agent) needs only to be heard from. M(qhb.qluster.qluster_member) waits on the same
    definition.
  - To wait for a state, repeat it with C(until), C(retries) and C(delay), and set O(api_retries=0) so
    that a refused connection counts as one attempt of the loop.
author:
  - qhb.qluster maintainers (@qhb)
extends_documentation_fragment:
  - qhb.qluster.qluster_api
  - qhb.qluster.qluster_api.info_attributes
options:
  member:
    description:
      - A member's id, name or address (the map may list it with a port, C(10.0.0.11) finds C(10.0.0.11:5432)),
        whose row is returned as RV(member).
      - The module fails when it names more than one member; RV(member) is empty when it names none.
    type: str
notes:
  - The map is the answering agent's view. An agent with TLS speaks HTTPS on its node's address and plain
    HTTP on 127.0.0.1 only; the default O(api_url) is that loopback listener.
seealso:
  - module: qhb.qluster.qluster_member
  - module: qhb.qluster.qhb_replication_facts
'''

EXAMPLES = r'''
- name: Read the cluster map through the node's own agent (http://127.0.0.1:8080)
  qhb.qluster.qluster_info:
  register: cluster
  become: true  # the API token in /etc/qluster/ is root's

- name: Say who leads
  ansible.builtin.debug:
    msg: "{{ cluster.leader.name | default('nobody') }} leads on timeline {{ cluster.timeline }}"

- name: Wait until this node is ready (the leader with its primary, or a streaming replica)
  qhb.qluster.qluster_info:
    member: "{{ ansible_facts['default_ipv4']['address'] }}"
    api_retries: 0
  register: cluster
  until: cluster.member.ready | default(false)
  retries: 60
  delay: 5
  become: true

- name: Find the database node that takes writes, each asking its own agent
  qhb.qluster.qluster_info:
  register: cluster
  become: true

- name: Say which one it is
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} is the leader with its primary"
  when: cluster.writable

- name: Wait until a new leader runs its primary
  qhb.qluster.qluster_info:
    api_retries: 0
  register: cluster
  until: cluster.leader.name | default('') == 'qluster-02' and cluster.leader.ready
  retries: 60
  delay: 2
  become: true

- name: Fail when a replica is not ready or lags more than 16 MiB
  ansible.builtin.assert:
    that:
      - cluster.ready_count == cluster.member_count
      - cluster.max_lag_bytes is not none and cluster.max_lag_bytes < 16777216
'''

RETURN = r'''
map:
  description: The agent's C(GET /map) answer as it came.
  returned: success
  type: dict
  sample: {"cluster_id": "qluster1", "term": 3, "leader": 167772171, "leader_name": "qluster-01", "members": []}
term:
  description: The consensus term of the map.
  returned: success
  type: int
  sample: 3
leader:
  description:
    - The leader's row of the map (as in RV(members), with C(ready)); empty when the cluster has no leader.
  returned: success
  type: dict
  sample: {"id": 167772171, "name": "qluster-01", "address": "10.0.0.11", "api_port": 8080, "db_port": 5432,
           "role": "leader", "voter": true, "state": "healthy", "db_role": "primary", "timeline": 1,
           "lag_bytes": 0, "ready": true, "ready_reason": "leader, database primary, state healthy"}
members:
  description:
    - Every row of the map, each with C(ready) (see the description) and C(ready_reason), the fields that decided it.
  returned: success
  type: list
  elements: dict
  sample: [{"id": 167772172, "name": "qluster-02", "address": "10.0.0.12", "role": "follower", "voter": true,
            "state": "healthy", "db_role": "replica", "streaming": true, "lag_bytes": 0, "ready": true,
            "ready_reason": "role follower, database replica, streaming True, state healthy"}]
member:
  description: The row O(member) names, as in RV(members); empty without O(member) or when it names no member.
  returned: success
  type: dict
  sample: {"id": 167772172, "name": "qluster-02", "address": "10.0.0.12", "ready": true}
answered_by:
  description:
    - The row of the member whose agent answered (the node id its C(GET /health) gives), as in RV(members);
      empty when the map does not list it.
  returned: success
  type: dict
  sample: {"id": 167772171, "name": "qluster-01", "address": "10.0.0.11", "role": "leader", "ready": true}
writable:
  description:
    - Whether the node whose agent answered takes writes - it leads, holds its lease and runs the primary,
      and no switchover is under way. The agent's C(GET /leader) (and C(/primary)) answers 200 exactly then.
  returned: success
  type: bool
  sample: true
switchover_candidates:
  description: The voters that can take over leadership - the ready followers, least lag first.
  returned: success
  type: list
  elements: dict
  sample: [{"id": 167772172, "name": "qluster-02", "lag_bytes": 0, "ready": true}]
timeline:
  description: The leader's timeline; null without a leader.
  returned: success
  type: int
  sample: 1
max_lag_bytes:
  description:
    - The most bytes of WAL a voter is behind the leader; 0 with no other voter.
    - Null when unknown - no leader, or the agent cannot tell some voter's lag (one it does not hear from).
  returned: success
  type: int
  sample: 0
member_count:
  description: How many members the map lists, observers included.
  returned: success
  type: int
  sample: 4
voter_count:
  description: How many of them vote.
  returned: success
  type: int
  sample: 3
healthy_count:
  description: How many of them are in state C(healthy).
  returned: success
  type: int
  sample: 4
ready_count:
  description: How many of them are ready.
  returned: success
  type: int
  sample: 4
'''

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import QlusterApiError
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import cluster_facts
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_module import run_module


class InfoModule:
    """Read the map and the answering agent's health once and describe them; nothing is ever
    sent but the two GETs."""

    def __init__(self, module, api):
        self.module = module
        self.api = api

    def run(self):
        cluster_map = self.api.get('/map')
        if not isinstance(cluster_map, dict):
            raise QlusterApiError('GET', self.api.url_for('/map'), 200, 'the answer is not a map: %r' % (cluster_map,))
        facts = cluster_facts(cluster_map, self.module.params['member'])
        # /health answers 503 (with the same body) when the database does not run.
        health = self.api.get('/health', accept=(200, 503))
        state = (health.get('state') if isinstance(health, dict) else None) or {}
        answered = state.get('node_id')
        facts['answered_by'] = next((row for row in facts['members'] if answered and row.get('id') == answered), {})
        facts['writable'] = bool(state.get('writable'))
        return dict(changed=False, **facts)


def main():
    run_module(dict(member=dict(type='str')),
               lambda module, api: InfoModule(module, api).run())


if __name__ == '__main__':
    main()
