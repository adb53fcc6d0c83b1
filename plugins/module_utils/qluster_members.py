# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Membership planning over the agent's ``GET /map`` (pure functions, no I/O).

The agent refuses an unsafe removal itself (409); planning here first lets check mode tell the
truth and lets the module say what to do instead, before anything is sent.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import ipaddress

UNREACHABLE = 'unreachable'
HEALTHY = 'healthy'


class PlanError(Exception):
    """The request cannot be carried out as asked; the message says why and what to do."""


def ipv4_node_id(address):
    """The agent's default node id: the IPv4 address as an integer (10.0.0.1 -> 167772161)."""
    try:
        return int(ipaddress.IPv4Address(str(address)))
    except (ValueError, ipaddress.AddressValueError):
        raise PlanError('address %r is not an IPv4 address; give the member id explicitly' % (address,)) from None


def member_label(row):
    return 'node %s (%s, %s)' % (row.get('id'), row.get('name'), row.get('address'))


def find_member(cluster_map, member_id=None, name=None, address=None):
    """The map row the given id/name/address designate, or None; PlanError when they disagree."""
    matches = {}
    for row in cluster_map.get('members') or []:
        hits = []
        if member_id is not None and row.get('id') == member_id:
            hits.append('id')
        if name is not None and row.get('name') == name:
            hits.append('name')
        if address is not None and row.get('address') == address:
            hits.append('address')
        if hits:
            matches[row.get('id')] = (row, hits)
    if not matches:
        return None
    if len(matches) > 1:
        described = '; '.join('%s matches by %s' % (member_label(row), ' and '.join(hits))
                              for row, hits in matches.values())
        raise PlanError('the given id/name/address designate different members: %s' % described)
    row, hits = list(matches.values())[0]
    given = {'id': member_id, 'name': name, 'address': address}
    for key, value in given.items():
        if value is not None and key not in hits:
            raise PlanError('%s matches by %s but its %s is %r, not %r; remove it first to change it'
                            % (member_label(row), ' and '.join(hits), key, row.get(key), value))
    return row


def designates(row, ref):
    """Whether ``ref`` names this map row: its id, its name, or its address, which the map may
    give with a port (``10.0.0.11`` names ``10.0.0.11:5432`` too)."""
    if row is None or ref is None:
        return False
    ref = str(ref)
    address = str(row.get('address') or '')
    if ref in (str(row.get('id')), row.get('name'), address):
        return True
    port = address[len(ref) + 1:] if ref and address.startswith(ref + ':') else ''
    return port.isdigit()


def member_ready(row, leader_id):
    """(ready, why) for a member of the map with leader ``leader_id``.

    The collection's one definition of "the member is ready" (qluster_member's wait, the ``ready``
    flags of qluster_info, and through them every playbook and role): the member is heard from
    with no long operation running (state ``healthy``), and the leader runs the primary, any
    other voter's database streams from it as a replica; an observer, without a database, needs
    only to be heard from.
    """
    if row is None:
        return False, 'not in the map yet'
    state = row.get('state')
    if row.get('role') == 'observer':
        return state == HEALTHY, 'observer, state %s' % state
    if row.get('id') == leader_id:
        return row.get('db_role') == 'primary' and state == HEALTHY, \
            'leader, database %s, state %s' % (row.get('db_role'), state)
    ready = state == HEALTHY and row.get('db_role') == 'replica' and bool(row.get('streaming'))
    return ready, 'role %s, database %s, streaming %s, state %s' % (
        row.get('role'), row.get('db_role'), bool(row.get('streaming')), state)


def member_body(member_id, name, address, api_port, db_port, observer):
    """The POST /members body."""
    body = {'id': member_id, 'name': name, 'address': address, 'api_port': api_port, 'observer': observer}
    body['db_port'] = None if observer else db_port
    return body


def voters(cluster_map):
    return [row for row in cluster_map.get('members') or [] if row.get('voter')]


def quorum_problem(cluster_map, target):
    """Why removing ``target`` would leave the remaining voters without a reachable majority."""
    if not target.get('voter'):
        return None
    remaining = [row for row in voters(cluster_map) if row.get('id') != target.get('id')]
    if not remaining:
        return '%s is the last voter of the cluster' % member_label(target)
    alive = [row for row in remaining if row.get('state') != UNREACHABLE]
    needed = len(remaining) // 2 + 1
    if len(alive) < needed:
        return ('after removing %s only %d of the remaining %d voters are reachable and %d are '
                'needed for quorum' % (member_label(target), len(alive), len(remaining), needed))
    return None


def switchover_candidates(cluster_map, exclude_id):
    """Voters that can take over: the ready followers (healthy streaming replicas), least lag first."""
    leader_id = cluster_map.get('leader')
    rows = [row for row in voters(cluster_map)
            if row.get('id') not in (exclude_id, leader_id) and member_ready(row, leader_id)[0]]
    return sorted(rows, key=lambda row: (row.get('lag_bytes') is None, row.get('lag_bytes') or 0, row.get('id')))


def plan_switchover(cluster_map, to=None):
    """The voter to hand leadership to: the one ``to`` names (id, name or address; see
    designates), else the ready follower with the least lag; None when ``to`` already leads.

    The collection's one choice of a switchover's target (qluster_switchover, qluster_member's
    removal of the leader, and through them switchover.yml and remove_node.yml). PlanError when
    there is no leader, or the target is not a ready follower: the agent would refuse it (409).
    """
    leader_id = cluster_map.get('leader')
    if leader_id is None:
        raise PlanError('the cluster has no leader; there is nothing to switch over')
    if to is not None and any(designates(row, to) for row in voters(cluster_map) if row.get('id') == leader_id):
        return None
    candidates = switchover_candidates(cluster_map, leader_id)
    if to is not None:
        wanted = [row for row in candidates if designates(row, to)]
        if not wanted:
            raise PlanError('%r is not a healthy streaming voter (candidates: %s; members: %s)'
                            % (to, ', '.join(member_label(row) for row in candidates) or 'none',
                               ', '.join(str(row.get('name')) for row in cluster_map.get('members') or [])))
        return wanted[0]
    if not candidates:
        raise PlanError('no other voter is a healthy streaming replica to switch over to')
    return candidates[0]


def plan_removal(cluster_map, target, switchover=False, switchover_to=None):
    """How to remove ``target``: {'switchover_to': row or None}; PlanError when it is not safe.

    The leader is removed only after a switchover to another healthy voter (when asked for; the
    target as plan_switchover chooses it); any removal must leave a reachable majority of the
    remaining voters.
    """
    problem = quorum_problem(cluster_map, target)
    if problem is not None:
        raise PlanError('refusing to remove it: %s' % problem)
    if target.get('id') != cluster_map.get('leader'):
        return {'switchover_to': None}
    if not switchover:
        raise PlanError('refusing to remove %s: it is the leader; set switchover=true to hand leadership '
                        'to another voter first' % member_label(target))
    if switchover_to is not None and designates(target, switchover_to):
        raise PlanError('refusing to remove %s: switchover_to %r is the member to remove'
                        % (member_label(target), switchover_to))
    try:
        return {'switchover_to': plan_switchover(cluster_map, switchover_to)}
    except PlanError as exc:
        what = ('switchover_to %s' % exc) if switchover_to is not None else ('it is the leader and %s' % exc)
        raise PlanError('refusing to remove %s: %s' % (member_label(target), what)) from None


def diff_view(row):
    """The part of a map row shown in a diff (stable fields only, not positions or ages)."""
    if row is None:
        return {}
    keys = ('id', 'name', 'address', 'api_port', 'db_port', 'role', 'voter')
    return dict((key, row.get(key)) for key in keys if key in row)


def cluster_facts(cluster_map, member=None):
    """What qluster_info returns for a ``GET /map`` answer: the leader's row, every row with its
    readiness (``ready``, ``ready_reason``: see member_ready), the row ``member`` names (id, name
    or address; see designates), the voters that could take over, and a few figures.
    PlanError when ``member`` names more than one row."""
    leader_id = cluster_map.get('leader')
    members = []
    for row in cluster_map.get('members') or []:
        ready, why = member_ready(row, leader_id)
        members.append(dict(row, ready=ready, ready_reason=why))
    leader = {}
    if leader_id is not None:
        leader = next((row for row in members if row.get('id') == leader_id), {})
    own = {}
    if member is not None:
        named = [row for row in members if designates(row, member)]
        if len(named) > 1:
            raise PlanError('member %r names more than one member: %s'
                            % (member, '; '.join(member_label(row) for row in named)))
        own = named[0] if named else {}
    voter_rows = [row for row in members if row.get('voter')]
    follower_lags = [row.get('lag_bytes') for row in voter_rows if row.get('id') != leader_id]
    unknown_lag = not leader or any(lag is None for lag in follower_lags)
    return {
        'map': cluster_map,
        'term': cluster_map.get('term'),
        'leader': leader,
        'members': members,
        'member': own,
        'switchover_candidates': switchover_candidates(dict(cluster_map, members=members), leader_id) if leader else [],
        'timeline': leader.get('timeline'),
        'max_lag_bytes': None if unknown_lag else max(follower_lags or [0]),
        'member_count': len(members),
        'voter_count': len(voter_rows),
        'healthy_count': len([row for row in members if row.get('state') == HEALTHY]),
        'ready_count': len([row for row in members if row['ready']]),
    }
