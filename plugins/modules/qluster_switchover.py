#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: qluster_switchover
short_description: Hand a qluster cluster's leadership to another database node
version_added: 0.1.0
description:
  - Asks the leader to hand leadership over (C(POST /switchover)) and waits until the target leads with its
    database the primary. The leader demotes its database first, so the new leader takes over with all WAL.
  - The target is O(target) or, without it, the ready follower with the least lag. It must be a ready
    follower - heard from, no long operation running, its database streaming from the leader as a replica
    (the C(ready) flag of M(qhb.qluster.qluster_info)); anything else is refused before anything is sent,
    as the agent would refuse it.
  - A target that already leads changes nothing. M(qhb.qluster.qluster_member) hands over the same way
    before it removes the leader.
author:
  - qhb.qluster maintainers (@qhb)
extends_documentation_fragment:
  - qhb.qluster.qluster_api
  - qhb.qluster.qluster_api.attributes
options:
  target:
    description:
      - The member to lead - its id, name or address (the map may list it with a port, C(10.0.0.12) finds
        C(10.0.0.12:5432)).
      - Default - the ready follower with the least lag (C(switchover_candidates) of M(qhb.qluster.qluster_info)).
    type: str
  wait:
    description:
      - Wait until the target leads with its database the primary. Without it the module returns once the
        leader has accepted the request.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the target to lead.
    type: int
    default: 120
  poll_interval:
    description:
      - Seconds between two reads of C(GET /map) while waiting.
    type: float
    default: 2
notes:
  - Send it to the leader's agent or to a follower's, which forwards the request to the leader signed with the
    cluster secret. While the leadership moves, a map that cannot be read is one more attempt of the wait.
seealso:
  - module: qhb.qluster.qluster_info
  - module: qhb.qluster.qluster_member
'''

EXAMPLES = r'''
- name: Hand leadership to qluster-02 through the node's own agent and wait until it leads
  qhb.qluster.qluster_switchover:
    target: qluster-02
  become: true  # the API token in /etc/qluster/ is root's

- name: Hand it to the follower with the least lag
  qhb.qluster.qluster_switchover:
    wait_timeout: 300
  register: switchover
  become: true

- name: Say who leads now
  ansible.builtin.debug:
    msg: "{{ switchover.previous_leader.name }} -> {{ switchover.leader.name }}"
'''

RETURN = r'''
leader:
  description:
    - The leader's row of C(GET /map) after the run, as in C(members) of M(qhb.qluster.qluster_info); in check
      mode, or with O(wait=false), the target's row as it was.
  returned: success
  type: dict
  sample: {"id": 167772172, "name": "qluster-02", "address": "10.0.0.12", "role": "leader", "db_role": "primary",
           "state": "healthy", "ready": true}
previous_leader:
  description: The leader's row before the run.
  returned: success
  type: dict
  sample: {"id": 167772171, "name": "qluster-01", "address": "10.0.0.11", "role": "leader"}
map:
  description: The last C(GET /map) answer read.
  returned: success
  type: dict
  sample: {"cluster_id": "qluster1", "term": 4, "leader": 167772172, "leader_name": "qluster-02", "members": []}
actions:
  description: What was done (or, in check mode, would be done).
  returned: success
  type: list
  elements: str
  sample: ["POST /switchover {\"leader\": 167772172}"]
diff:
  description: The leader's name and id before and after, when diff mode is on.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"leader": "qluster-01", "id": 167772171}, "after": {"leader": "qluster-02", "id": 167772172}}
'''

import time

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import QlusterApiError
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import (
    cluster_facts, member_label, plan_switchover)
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_module import (
    run_module, wait_argument_spec, wait_problems, with_diff)
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_switchover import (
    hand_over, switchover_action, switchover_request)


def leader_view(row):
    """The part of a leader's row shown in a diff."""
    return dict(leader=row.get('name'), id=row.get('id')) if row else {}


class SwitchoverModule:
    """Plan on one map, hand over (unless in check mode), report the leader before and after."""

    def __init__(self, module, api, clock=time.monotonic, sleep=time.sleep):
        self.module = module
        self.params = module.params
        self.api = api
        self._clock = clock
        self._sleep = sleep

    def read(self):
        cluster_map = self.api.get('/map')
        if not isinstance(cluster_map, dict):
            raise QlusterApiError('GET', self.api.url_for('/map'), 200, 'the answer is not a map: %r' % (cluster_map,))
        return cluster_map

    def run(self):
        before = self.read()
        target = plan_switchover(before, self.params['target'])
        facts = cluster_facts(before)
        previous = facts['leader']
        if target is None:
            return self.result(False, previous, previous, before, [])
        actions = [switchover_action(target)]
        target_row = next(row for row in facts['members'] if row.get('id') == target['id'])
        if self.module.check_mode:
            return self.result(True, previous, target_row, before, actions)
        if not self.params['wait']:
            path, body = switchover_request(target)
            self.api.post(path, body)
            return self.result(True, previous, target_row, before, actions)
        done, after, why = hand_over(self.api, target, self.params['wait_timeout'], self.params['poll_interval'],
                                     self._clock, self._sleep)
        if not done:
            self.module.fail_json(msg='%s did not lead with its database the primary within %s s (%s)'
                                  % (member_label(target), self.params['wait_timeout'], why),
                                  actions=actions, changed=True, map=after or before)
        return self.result(True, previous, cluster_facts(after)['leader'], after, actions)

    def result(self, changed, previous, leader, cluster_map, actions):
        result = dict(changed=changed, leader=leader or {}, previous_leader=previous or {}, map=cluster_map,
                      actions=actions)
        return with_diff(self.module, result, leader_view(previous), leader_view(leader))


def main():
    run_module(
        dict(
            target=dict(type='str'),
            **wait_argument_spec(120)
        ),
        lambda module, api: SwitchoverModule(module, api).run(),
        problems=wait_problems,
    )


if __name__ == '__main__':
    main()
