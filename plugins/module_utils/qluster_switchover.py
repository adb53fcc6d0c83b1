# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's one switchover: ask the leader to hand over, then wait until the target leads.

``qluster_switchover`` runs it on its own, ``qluster_member`` before removing the leader; the
playbooks switchover.yml and remove_node.yml call those modules. The target is chosen by
``qluster_members.plan_switchover``; "leads" is ``member_ready`` of the leader's row, the same
definition qluster_info's ``ready`` flags use.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import time

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import QlusterApiError
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import find_member, member_ready


def switchover_request(target):
    """(path, body) of the request that hands leadership to ``target`` (a map row)."""
    return '/switchover', {'leader': target['id']}


def switchover_action(target):
    """The request as the modules' ``actions`` list it: ``POST /switchover {"leader": 167772172}``."""
    path, body = switchover_request(target)
    return 'POST %s %s' % (path, json.dumps(body))


def leads(cluster_map, target_id):
    """(True, why) when ``target_id`` leads ``cluster_map`` with its database the primary."""
    if cluster_map.get('leader') != target_id:
        return False, 'the map names %s as the leader' % (cluster_map.get('leader_name') or cluster_map.get('leader'))
    return member_ready(find_member(cluster_map, member_id=target_id), target_id)


def poll(condition, timeout, interval, clock=time.monotonic, sleep=time.sleep):
    """Call ``condition()`` every ``interval`` seconds until it is true (True) or ``timeout``
    seconds pass (False); it is always called at least once. The modules' one wait loop."""
    deadline = clock() + timeout
    while True:
        if condition():
            return True
        if clock() >= deadline:
            return False
        sleep(interval)


def hand_over(api, target, timeout, interval, clock=time.monotonic, sleep=time.sleep):
    """POST /switchover to ``target``, then read the map every ``interval`` seconds until the
    target leads (see leads) or ``timeout`` seconds pass.

    Returns (done, last map read or None, why not when not done). A map that cannot be read
    while waiting (an election under way, the old leader's database restarting) is one more
    attempt, not a failure; the request itself raises QlusterApiError as any change does.
    """
    path, body = switchover_request(target)
    api.post(path, body)
    seen = {'map': None, 'why': 'the map was not read yet'}

    def target_leads():
        try:
            seen['map'] = api.get('/map')
            done, seen['why'] = leads(seen['map'], target['id'])
        except QlusterApiError as exc:
            done, seen['why'] = False, str(exc)
        return done

    if poll(target_leads, timeout, interval, clock, sleep):
        return True, seen['map'], None
    return False, seen['map'], seen['why']
