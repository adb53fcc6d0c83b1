#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: qluster_config
short_description: Set a qluster cluster's runtime settings and maintenance mode through the agent's API
version_added: 0.1.0
description:
  - Sets the runtime settings of seed 000 section 10.5 (C(node-timeout), C(heartbeat-interval),
    C(quorum-replication), ...) through the agent's C(GET /config) and C(POST /config).
  - Reads the settings in force, compares them with O(settings), and sends only the keys whose
    value differs. The agent replicates the change through its consensus to every node.
  - Unknown keys and bad values fail before anything is sent, with every problem named.
  - Pauses or resumes the cluster (maintenance mode) with O(paused), through C(POST /pause) and
    C(POST /resume), when the map's C(paused) differs.
author:
  - qhb.qluster maintainers (@qhb)
extends_documentation_fragment:
  - qhb.qluster.qluster_api
  - qhb.qluster.qluster_api.attributes
options:
  settings:
    description:
      - The desired settings; keys left out keep their current value.
      - Keys are written as in the seed (V(node-timeout)); V(node_timeout) and
        V(cluster.node-timeout) name the same key.
      - Durations are strings with a unit (V(500ms), V(5s), V(1m), V(1h)); a bare number is refused
        because it could mean seconds or milliseconds. V(5000ms) and V(5s) are the same value.
      - "Integer keys: C(replication-factor), C(autoremove-minimum) (0..1000). Boolean keys:
        C(quorum-replication), C(autoremove-enabled). Duration keys and their allowed ranges (ends
        included): C(node-timeout) 100ms..1m, C(heartbeat-interval) 10ms..1m,
        C(pre-voting-timeout) and C(leader-voting-timeout) 50ms..1m,
        C(replication-retry-interval) 10ms..1m, C(remove-interval) 1s..24h,
        C(set-leader-timeout) 1s..10m. A value out of its range fails before anything is sent,
        in check mode too; the agent refuses the same values."
      - C(heartbeat-interval) may not be longer than C(node-timeout), and C(replication-factor=0)
        needs C(quorum-replication=true); both are checked on the merged settings before sending.
      - At least one of O(settings) and O(paused) is required.
    type: dict
  paused:
    description:
      - V(true) puts the cluster in maintenance mode, V(false) ends it; left out, the mode is not touched.
      - While paused the agents leave every database as it is (no start, stop, fence, promote,
        demote, clone, rewind or switchover) and the operator is in charge; on resume they take
        the databases as they find them, a database promoted by hand on a member that does not
        lead being demoted and rewound. See docs/agent.md, maintenance mode.
      - The flag is replicated through the cluster's consensus, as the settings are.
    type: bool
'''

EXAMPLES = r'''
- name: Apply the settings of seed 000 section 10.5 through this database node's own agent
  qhb.qluster.qluster_config:
    # api_url left at http://127.0.0.1:8080; the token comes from the agent's config file (root only)
    settings:
      node-timeout: 5s
      heartbeat-interval: 5s
      pre-voting-timeout: 5s
      leader-voting-timeout: 5s
      quorum-replication: true
      replication-factor: 0
      replication-retry-interval: 5s
      autoremove-enabled: false
      autoremove-minimum: 0
      set-leader-timeout: 5s
  become: true

- name: Set the API options once for all modules of the collection, on the first database node
  delegate_to: "{{ groups['qhb_nodes'][0] }}"  # qhb_nodes - the inventory group of site.yml
  run_once: true
  become: true
  module_defaults:
    group/qhb.qluster.api:
      api_url: http://127.0.0.1:8080  # plain HTTP on loopback; the node's address speaks HTTPS
      api_token: "{{ qluster_api_token }}"
      api_retries: 10
  block:
    - name: Fail over faster
      qhb.qluster.qluster_config:
        settings:
          node-timeout: 3s
          heartbeat-interval: 500ms
      register: result

    - name: Show what was sent
      ansible.builtin.debug:
        var: result.sent

- name: Maintenance mode around work on the databases by hand
  delegate_to: "{{ groups['qhb_nodes'][0] }}"
  run_once: true
  become: true
  block:
    - name: Pause the cluster
      qhb.qluster.qluster_config:
        paused: true

    - name: Work on the databases here
      ansible.builtin.debug:
        msg: the agents leave the databases alone until the next task

    - name: Resume the cluster
      qhb.qluster.qluster_config:
        paused: false
'''

RETURN = r'''
config:
  description: The cluster's settings after the run (in check mode, as they would be).
  returned: when O(settings) is given
  type: dict
  sample: {"node-timeout": "5s", "heartbeat-interval": "5s", "quorum-replication": true, "replication-factor": 0}
planned:
  description: The keys whose value differs from the desired one, with their new value.
  returned: always
  type: dict
  sample: {"node-timeout": "5s"}
sent:
  description: The body of the C(POST /config) request; empty when nothing was sent (no change, or check mode).
  returned: always
  type: dict
  sample: {"node-timeout": "5s"}
paused:
  description: Whether the cluster is paused after the run (in check mode, as it would be).
  returned: when O(paused) is given
  type: bool
  sample: true
diff:
  description: The settings (and C(paused) when O(paused) is given) before and after, when diff mode is on.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"node-timeout": "800ms"}, "after": {"node-timeout": "5s"}}
'''

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_module import run_module, with_diff
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_settings import (
    cross_problems, normalize_current, plan_config, validate_settings)


class ConfigModule:
    def __init__(self, module, api):
        self.module = module
        self.api = api

    def run(self):
        result = dict(changed=False, planned={}, sent={})
        before, after = {}, {}
        if self.module.params.get('settings') is not None:
            self.run_settings(result, before, after)
        if self.module.params.get('paused') is not None:
            self.run_paused(result, before, after)
        return with_diff(self.module, result, before, after)

    def run_paused(self, result, before, after):
        desired = self.module.params['paused']
        current = bool(self.api.get('/map').get('paused', False))
        paused = desired
        if current != desired and not self.module.check_mode:
            answer = self.api.post('/pause' if desired else '/resume', {})
            paused = bool(answer.get('paused'))
            if paused != desired:
                self.module.fail_json(msg='the agent answered paused=%s, not %s' % (paused, desired), answer=answer)
        result['changed'] = result['changed'] or current != desired
        result['paused'] = paused
        before['paused'] = current
        after['paused'] = paused

    def run_settings(self, result, before_all, after_all):
        desired, problems = validate_settings(self.module.params['settings'])
        if problems:
            self.module.fail_json(msg='invalid settings; nothing was sent: %s' % '; '.join(problems),
                                  problems=problems)
        current = normalize_current(self.api.get('/config'))
        changes, before, after = plan_config(current, desired)
        problems = cross_problems(after)
        if problems:
            self.module.fail_json(msg='the settings would be inconsistent; nothing was sent: %s'
                                  % '; '.join(problems), problems=problems)
        sent = {}
        config = after
        if changes and not self.module.check_mode:
            # The answer is the config once committed (a follower forwards to the leader and
            # may apply it a moment later, so a fresh GET there could still show the old values).
            config = normalize_current(self.api.post('/config', changes))
            sent = changes
            missing = dict((k, config.get(k)) for k, v in changes.items() if config.get(k) != v)
            if missing:
                self.module.fail_json(msg='the agent accepted the change but reports other values: %s'
                                      % missing, sent=sent, config=config)
        result.update(changed=bool(changes), planned=changes, sent=sent, config=config)
        before_all.update(before)
        after_all.update(config if not self.module.check_mode else after)


def main():
    run_module(dict(settings=dict(type='dict'), paused=dict(type='bool')),
               lambda module, api: ConfigModule(module, api).run(),
               required_one_of=[['settings', 'paused']])


if __name__ == '__main__':
    main()
