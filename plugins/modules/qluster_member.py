#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: qluster_member
short_description: Add a member to a qluster cluster or remove one, without losing quorum
version_added: 0.1.0
description:
  - Adds a member (C(POST /members)) and waits until it runs, or removes one
    (C(DELETE /members/{id})), through the agent's HTTP API.
  - A member is designated by O(id), O(name) and/or O(address); when several are given they must
    designate the same member of C(GET /map).
  - O(state=present) for a member already in the map changes nothing (and waits, if O(wait), until
    it is ready). A new member is recorded and joins once its agent announces itself; a node
    removed earlier is taken in again only through this explicit add.
  - O(state=absent) refuses, before anything is sent, a removal after which the remaining voters
    would have no reachable majority, and the removal of the leader unless O(switchover=true), in
    which case leadership is first handed to a healthy streaming voter.
author:
  - qhb.qluster maintainers (@qhb)
extends_documentation_fragment:
  - qhb.qluster.qluster_api
  - qhb.qluster.qluster_api.attributes
options:
  state:
    description:
      - V(present) adds the member when it is not in the cluster; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  id:
    description:
      - The member's node id.
      - When adding, defaults to the IPv4 address of O(address) as an integer, the agent's own default C(node-id).
    type: int
  name:
    description:
      - The member's name (its host name in the map). Required with O(state=present).
    type: str
  address:
    description:
      - The member's IPv4 address as other nodes reach it (the agent's C(ip)). Required with O(state=present).
    type: str
  api_port:
    description:
      - The member agent's API port, recorded when adding.
    type: int
    default: 8080
  db_port:
    description:
      - The member's database port, recorded when adding a voter.
    type: int
    default: 5432
  observer:
    description:
      - Add the member as a non-voting observer (the pooler host), which has no database.
    type: bool
    default: false
  wait:
    description:
      - With O(state=present), wait until the member is ready according to C(GET /map) - it is heard
        from (state C(healthy)) and a voter streams from the leader as a replica (or is the leader with
        a running primary); an observer needs only to be heard from. M(qhb.qluster.qluster_info) returns
        the same C(ready) flag.
      - With O(state=absent) and a switchover, the module always waits until the new leader runs its primary
        (as M(qhb.qluster.qluster_switchover) does).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the member to be ready, for a switchover to complete, and for the removal to show in the map.
    type: int
    default: 600
  poll_interval:
    description:
      - Seconds between two reads of C(GET /map) while waiting.
    type: float
    default: 2
  switchover:
    description:
      - With O(state=absent), when the member is the leader, hand leadership to another healthy
        streaming voter first (C(POST /switchover), as M(qhb.qluster.qluster_switchover) does), wait until
        it leads with its database the primary, then remove the member.
      - Without it the removal of the leader is refused.
      - The removal after the switchover is forwarded from the old leader's agent to the new leader
        (signed with the cluster secret). The old leader's agent never sees its own removal, so the
        module confirms it on the new leader's agent (its address and api_port from the map, the same
        scheme, token and TLS options), which must be reachable from the host the module runs on.
    type: bool
    default: false
  switchover_to:
    description:
      - The voter (id, name or address) to hand leadership to when O(switchover=true).
      - Default - the healthy streaming voter with the least lag.
    type: str
'''

EXAMPLES = r'''
- name: Add qluster-04 through a database node's own agent and wait until it streams
  qhb.qluster.qluster_member:
    # api_url left at http://127.0.0.1:8080; the token comes from the agent's config file (root only)
    name: qluster-04
    address: 10.0.0.14
    wait_timeout: 1800
  become: true

- name: Remove qluster-03; refused if it would cost the quorum
  qhb.qluster.qluster_member:
    name: qluster-03
    state: absent

- name: Remove the current leader after a switchover to qluster-02
  qhb.qluster.qluster_member:
    address: 10.0.0.11
    state: absent
    switchover: true
    switchover_to: qluster-02
'''

RETURN = r'''
member:
  description: The member's row of C(GET /map) after the run; empty when it is not (or no longer) a member.
  returned: always
  type: dict
  sample: {"id": 167772174, "name": "qluster-04", "address": "10.0.0.14", "role": "follower", "voter": true,
           "state": "healthy", "db_role": "replica", "streaming": true}
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["POST /switchover {\"leader\": 167772172}", "DELETE /members/167772171"]
switchover_to:
  description:
    - With O(state=absent) and O(switchover=true), the row of C(GET /map) of the voter leadership is (in check mode,
      would be) handed to before the leader is removed; empty when the member is not the leader.
  returned: always
  type: dict
  sample: {"id": 167772172, "name": "qluster-02", "address": "10.0.0.12", "role": "follower", "voter": true}
diff:
  description: The member before and after, when diff mode is on.
  returned: when diff mode is on
  type: dict
  sample: {"before": {}, "after": {"id": 167772174, "name": "qluster-04", "address": "10.0.0.14"}}
'''

import json
import time

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import QlusterApiError
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import (
    PlanError, diff_view, find_member, ipv4_node_id, member_body, member_label, member_ready, plan_removal)
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_module import (
    run_module, wait_argument_spec, wait_problems, with_diff)
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_switchover import hand_over, poll, switchover_action


class MemberModule:
    def __init__(self, module, api, clock=time.monotonic, sleep=time.sleep, api_for=None):
        self.module = module
        self.params = module.params
        self.api = api
        # The API of another member (a map row), for confirming a removal on the leader's agent.
        self._api_for = api_for or (lambda row: api.for_member(row['address'], row['api_port']))
        self.actions = []
        self.switchover_to = None  # the map row leadership is handed to before removing the leader
        self._clock = clock
        self._sleep = sleep

    def cluster_map(self):
        return self.api.get('/map')

    def find(self, cluster_map):
        return find_member(cluster_map, self.params['id'], self.params['name'], self.params['address'])

    def run(self):
        cluster_map = self.cluster_map()
        row = self.find(cluster_map)
        if self.params['state'] == 'present':
            return self.present(row)
        return self.absent(cluster_map, row)

    # ------------------------------------------------------------------------- present
    def present(self, row):
        p = self.params
        changed = row is None
        after = row
        if row is None:
            member_id = p['id'] if p['id'] is not None else ipv4_node_id(p['address'])
            if member_id <= 0:
                raise PlanError('id %r is not a positive integer' % member_id)
            body = member_body(member_id, p['name'], p['address'], p['api_port'], p['db_port'], p['observer'])
            self.actions.append('POST /members %s' % json.dumps(body, sort_keys=True))
            after = dict(body, role='observer' if p['observer'] else 'follower', voter=not p['observer'])
            if not self.module.check_mode:
                self.api.post('/members', body)
                after = self.wait_for_member(member_id) if p['wait'] else self.row_of(member_id) or after
        elif p['wait']:
            after = self.wait_for_member(row['id'])
        return self.result(changed, row, after)

    def row_of(self, member_id):
        return find_member(self.cluster_map(), member_id=member_id)

    def wait_for_member(self, member_id):
        state = {'why': 'not read yet', 'row': None}

        def ready():
            cluster_map = self.cluster_map()
            row = find_member(cluster_map, member_id=member_id)
            state['row'] = row
            ok, state['why'] = member_ready(row, cluster_map.get('leader'))
            return ok

        if not self.poll(ready):
            row = state['row']
            decision = (' Its last decision: %s' % row.get('decision')) if row and row.get('decision') else ''
            self.module.fail_json(
                msg='node %s did not become ready within %s s (%s).%s'
                    % (member_id, self.params['wait_timeout'], state['why'], decision),
                member=row or {}, actions=self.actions, changed=bool(self.actions))
        return state['row']

    # ------------------------------------------------------------------------- absent
    def absent(self, cluster_map, row):
        if row is None:
            return self.result(False, None, None)
        plan = plan_removal(cluster_map, row, self.params['switchover'], self.params['switchover_to'])
        target = self.switchover_to = plan['switchover_to']
        if target is not None:
            self.actions.append(switchover_action(target))
        self.actions.append('DELETE /members/%s' % row['id'])
        if self.module.check_mode:
            return self.result(True, row, None)
        if target is not None:
            done, _map, why = hand_over(self.api, target, self.params['wait_timeout'], self.params['poll_interval'],
                                        self._clock, self._sleep)
            if not done:
                self.module.fail_json(msg='the switchover to %s did not complete within %s s; nothing was removed (%s)'
                                      % (member_label(target), self.params['wait_timeout'], why),
                                      actions=self.actions[:-1], changed=True)
            # Plan again on the new map: the removal must still keep a quorum.
            cluster_map = self.cluster_map()
            row = find_member(cluster_map, member_id=row['id']) or row
            plan_removal(cluster_map, row)
        try:
            self.api.delete('/members/%s', row['id'])
        except QlusterApiError as exc:
            # A 503 is retried; if the first attempt committed after all, the retry finds no such
            # member (404): that is the outcome asked for.
            if exc.status != 404 or not self.gone_from_the_map(row['id'], cluster_map):
                raise
        if not self.poll(lambda: self.gone_from_the_map(row['id'], cluster_map)):
            self.module.fail_json(msg='%s was removed but is still in the map after %s s'
                                  % (member_label(row), self.params['wait_timeout']),
                                  actions=self.actions, changed=True)
        return self.result(True, row, None)

    # ------------------------------------------------------------------------- helpers
    def gone_from_the_map(self, member_id, cluster_map):
        """Whether the removed member is gone from the map of this module's agent or, failing
        that, of the leader's: a node removed while the module talks to its own agent (the old
        leader after a switchover) never hears of its own removal, and its map keeps it."""
        if self.row_of(member_id) is None:
            return True
        leader = find_member(cluster_map, member_id=cluster_map.get('leader'))
        if leader is None or leader.get('id') == member_id or not leader.get('address') or not leader.get('api_port'):
            return False
        try:
            return find_member(self._api_for(leader).get('/map'), member_id=member_id) is None
        except QlusterApiError:
            return False  # the leader's agent is not reachable from here: keep waiting on ours

    def poll(self, condition):
        return poll(condition, self.params['wait_timeout'], self.params['poll_interval'], self._clock, self._sleep)

    def result(self, changed, before, after):
        result = dict(changed=changed, member=after or {}, actions=self.actions, switchover_to=self.switchover_to or {})
        return with_diff(self.module, result, diff_view(before), diff_view(after))


def main():
    run_module(
        dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            id=dict(type='int'),
            name=dict(type='str'),
            address=dict(type='str'),
            api_port=dict(type='int', default=8080),
            db_port=dict(type='int', default=5432),
            observer=dict(type='bool', default=False),
            switchover=dict(type='bool', default=False),
            switchover_to=dict(type='str'),
            **wait_argument_spec(600)
        ),
        lambda module, api: MemberModule(module, api).run(),
        problems=wait_problems,
        required_one_of=[('id', 'name', 'address')],
        required_if=[('state', 'present', ('name', 'address'))],
    )


if __name__ == '__main__':
    main()
