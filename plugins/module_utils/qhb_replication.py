# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Replication facts: the SQL that reads them and pure functions that shape them (no I/O here)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import decimal

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import designates

SQL_IN_RECOVERY = 'SELECT pg_is_in_recovery()'

# On a primary: the current WAL position and its timeline (the WAL file name starts with it).
SQL_PRIMARY = ('SELECT pg_current_wal_lsn()::text AS current_lsn, '
               'pg_walfile_name(pg_current_wal_lsn()) AS walfile')

# On a replica: what was received and replayed, how far apart, and how old the last replayed
# transaction is (0 when everything received is replayed: an idle primary is not a lag).
SQL_REPLICA = (
    'SELECT pg_last_wal_receive_lsn()::text AS received_lsn, '
    'pg_last_wal_replay_lsn()::text AS replayed_lsn, '
    'pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS lag_bytes, '
    'CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() '
    'THEN 0 ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag_seconds, '
    '(SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1) AS receiver_timeline, '
    '(SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline, '
    '(SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status, '
    '(SELECT sender_host FROM pg_stat_wal_receiver LIMIT 1) AS sender_host')

_POSITION = ('CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END')

SQL_REPLICATION = (
    'SELECT pid, usename, application_name, client_addr::text AS client_addr, state, sync_state, '
    'sync_priority, sent_lsn::text AS sent_lsn, write_lsn::text AS write_lsn, '
    'flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn, '
    'pg_wal_lsn_diff(' + _POSITION + ', replay_lsn)::bigint AS replay_lag_bytes, '
    'extract(epoch FROM write_lag)::float8 AS write_lag_seconds, '
    'extract(epoch FROM flush_lag)::float8 AS flush_lag_seconds, '
    'extract(epoch FROM replay_lag)::float8 AS replay_lag_seconds, '
    'backend_start::text AS backend_start, reply_time::text AS reply_time '
    'FROM pg_stat_replication ORDER BY application_name, pid')

SQL_SLOTS = (
    'SELECT slot_name, slot_type, plugin, database, temporary, active, active_pid, '
    'restart_lsn::text AS restart_lsn, confirmed_flush_lsn::text AS confirmed_flush_lsn, wal_status, '
    'pg_wal_lsn_diff(' + _POSITION + ', restart_lsn)::bigint AS retained_bytes '
    'FROM pg_replication_slots ORDER BY slot_name')

SQL_ARCHIVER = (
    'SELECT archived_count, last_archived_wal, last_archived_time::text AS last_archived_time, '
    'failed_count, last_failed_wal, last_failed_time::text AS last_failed_time, '
    'stats_reset::text AS stats_reset, '
    '(last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time)) '
    'AS failing FROM pg_stat_archiver')


def jsonable(value):
    """Database values as JSON-friendly values: numerics to int/float, timestamps to ISO text."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return dict((key, jsonable(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


def lsn_to_int(text):
    """PostgreSQL's 'X/X' LSN as an integer; None stays None; ValueError for anything else."""
    if text is None:
        return None
    high, sep, low = str(text).partition('/')
    if not sep:
        raise ValueError('%r is not an LSN (expected X/X)' % (text,))
    return (int(high, 16) << 32) + int(low, 16)


def timeline_of_walfile(name):
    """The timeline a WAL file name starts with: '000000020000000000000003' -> 2."""
    if not name or len(name) < 8:
        return None
    return int(name[:8], 16)


def base_facts():
    return {
        'sources': [],
        'role': 'unknown',
        'in_recovery': None,
        'timeline': None,
        'current_lsn': None,
        'received_lsn': None,
        'replayed_lsn': None,
        'lag_bytes': None,
        'lag_seconds': None,
        'replication': [],
        'slots': [],
        'archiver': {},
        'wal_receiver': {},
        'map': {},
        'agent_member': {},
        'health': {},
    }


def apply_db(facts, in_recovery, primary_row=None, replica_row=None, replication=(), slots=(), archiver=None):
    """Fill ``facts`` from the database's answers (rows as dicts)."""
    facts['sources'].append('db')
    facts['in_recovery'] = bool(in_recovery)
    facts['role'] = 'replica' if in_recovery else 'primary'
    if not in_recovery and primary_row:
        facts['current_lsn'] = primary_row.get('current_lsn')
        facts['received_lsn'] = facts['current_lsn']
        facts['replayed_lsn'] = facts['current_lsn']
        facts['timeline'] = timeline_of_walfile(primary_row.get('walfile'))
        facts['lag_bytes'] = 0
        facts['lag_seconds'] = 0.0
    if in_recovery and replica_row:
        row = jsonable(dict(replica_row))
        facts['received_lsn'] = row.get('received_lsn')
        facts['replayed_lsn'] = row.get('replayed_lsn')
        facts['lag_bytes'] = row.get('lag_bytes')
        facts['lag_seconds'] = row.get('lag_seconds')
        facts['timeline'] = row.get('receiver_timeline') or row.get('checkpoint_timeline')
        facts['wal_receiver'] = {'status': row.get('receiver_status'), 'sender_host': row.get('sender_host')}
    facts['replication'] = [jsonable(dict(row)) for row in replication]
    facts['slots'] = [jsonable(dict(row)) for row in slots]
    facts['archiver'] = jsonable(dict(archiver)) if archiver else {}
    return facts


def pick_member(cluster_map, member=None, api_url=None, health=None):
    """This node's row of the map: the one ``member`` names (id, name or address), else the one
    whose address and API port are those of ``api_url``, else the one of the node that answered
    ``health`` (its ``state.node_id``: the default api_url, 127.0.0.1, is no member's address);
    None when none designates a row."""
    rows = cluster_map.get('members') or []
    if member is not None:
        return next((row for row in rows if designates(row, member)), None)
    if api_url:
        parts = urlsplit(api_url)
        port = parts.port or (443 if parts.scheme == 'https' else 80)
        for row in rows:
            if row.get('address') == parts.hostname and row.get('api_port') in (None, port):
                return row
    answered = ((health or {}).get('state') or {}).get('node_id')
    for row in rows:
        if answered and row.get('id') == answered:
            return row
    return None


def apply_api(facts, cluster_map, health, member_row):
    """Fill ``facts`` from the agent; database values read directly are kept when present."""
    facts['sources'].append('api')
    facts['map'] = cluster_map or {}
    facts['health'] = health or {}
    facts['agent_member'] = member_row or {}
    if 'db' in facts['sources']:
        # A replica that stopped receiving has replayed all it received: its own database says
        # lag 0. The agent measures it against the leader's position: the larger one is the lag.
        # When the agent cannot tell (no leader it hears from, no row of this node), neither can
        # the module: an unknown lag is null, never the database's 0.
        if facts['role'] == 'replica':
            behind_leader = (member_row or {}).get('lag_bytes')
            facts['lag_bytes'] = None if behind_leader is None else max(facts['lag_bytes'] or 0, behind_leader)
        return facts
    state = (health or {}).get('state') or {}
    if state.get('observer'):
        facts['role'] = 'observer'
    elif state.get('pg_running'):
        facts['in_recovery'] = bool(state.get('in_recovery'))
        facts['role'] = 'replica' if state.get('in_recovery') else 'primary'
    elif state:
        facts['role'] = 'stopped'
    if state.get('lag_bytes') is not None:
        facts['lag_bytes'] = state.get('lag_bytes')
    if member_row:
        facts['timeline'] = member_row.get('timeline')
        position = member_row.get('wal_position')
        if facts['role'] == 'primary':
            facts['current_lsn'] = position
            facts['lag_bytes'] = 0 if facts['lag_bytes'] is None else facts['lag_bytes']
        facts['received_lsn'] = position
        facts['replayed_lsn'] = member_row.get('replayed_lsn') or (position if facts['role'] == 'primary' else None)
        if facts['lag_bytes'] is None:
            facts['lag_bytes'] = member_row.get('lag_bytes')
    return facts
