#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: qhb_replication_facts
short_description: Replication state of a QHB / PostgreSQL node and its qluster agent, as facts
version_added: 0.1.0
description:
  - Reads, and never changes, the replication state of one node for monitoring - its role,
    timeline, WAL positions, lag, C(pg_stat_replication), replication slots, C(pg_stat_archiver),
    and the cluster map as its qluster agent sees it.
  - Works with database access only (O(sources=[db]), needs C(psycopg2)), with the agent's API only
    (O(sources=[api])), or with both (the default); values read from the database take precedence.
author:
  - qhb.qluster maintainers (@qhb)
extends_documentation_fragment:
  - qhb.qluster.qluster_api
  - qhb.qluster.qluster_api.facts_attributes
requirements:
  - psycopg2 (only when O(sources) includes V(db))
options:
  sources:
    description:
      - Where to read from - V(db) the database itself, V(api) the agent's C(GET /map) and C(GET /health).
    type: list
    elements: str
    choices: [api, db]
    default: [api, db]
  member:
    description:
      - This node's member id, name or address in the map, to pick its row (RV(ansible_facts.qhb_replication.agent_member)).
      - Default - the member whose address and API port are those of O(api_url), else the member whose agent answered.
    type: str
  login_host:
    description:
      - Host of the database; default the local Unix socket.
    type: str
  login_port:
    description:
      - Port of the database.
    type: int
    default: 5432
  login_user:
    description:
      - Database user; reading C(pg_stat_replication) in full needs a superuser or C(pg_monitor).
    type: str
    default: qhb
  login_password:
    description:
      - Password of O(login_user).
    type: str
  login_db:
    description:
      - Database to connect to.
    type: str
    default: postgres
  login_unix_socket:
    description:
      - Directory of the database's Unix socket, when O(login_host) is not set.
    type: str
  connect_timeout:
    description:
      - Seconds to wait for the database connection.
    type: int
    default: 10
notes:
  - Lag on a replica (C(lag_bytes)) is the larger of the WAL it received but has not replayed and,
    with the agent as a source, its distance from the leader's position in the cluster map; a
    replica that stopped receiving has replayed all it received, so its own database alone says 0.
    With the agent as a source and no distance it can tell (no leader it hears from), the lag is
    null - unknown, never 0. C(lag_seconds) is the age of the last replayed transaction while some
    received WAL is not replayed yet; per-standby lag on the primary is in C(replication).
  - An agent with TLS speaks HTTPS on its node address and plain HTTP on 127.0.0.1 only; the
    default O(api_url) is that loopback listener, and the node's own row of the map is the one of
    the node whose agent answered.
'''

EXAMPLES = r'''
- name: Read replication facts from the database and the node's own agent (http://127.0.0.1:8080)
  qhb.qluster.qhb_replication_facts:
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: qhb  # the local socket authenticates by peer: the database's OS user

- name: Fail when a replica lags more than 16 MiB, or nobody can tell how much it lags
  ansible.builtin.assert:
    that: >-
      qhb_replication.role == 'primary'
      or (qhb_replication.lag_bytes is not none and qhb_replication.lag_bytes < 16777216)
    fail_msg: "{{ inventory_hostname }}: replication lag {{ qhb_replication.lag_bytes | default('unknown', true) }} (bytes)"

- name: Only the agent's view of another node, over HTTPS, no database driver needed
  qhb.qluster.qhb_replication_facts:
    sources: [api]
    api_url: https://10.0.0.11:8080
    ca_path: /etc/qluster/tls/ca.crt
'''

RETURN = r'''
ansible_facts:
  description: The facts.
  returned: always
  type: complex
  contains:
    qhb_replication:
      description: The node's replication state.
      returned: always
      type: complex
      contains:
        sources:
          description: The sources that were read.
          type: list
          elements: str
          returned: always
          sample: [db, api]
        role:
          description: V(primary), V(replica), V(observer) (the pooler's agent), V(stopped) or V(unknown).
          type: str
          returned: always
          sample: replica
        in_recovery:
          description: C(pg_is_in_recovery()); null when unknown.
          type: bool
          returned: always
          sample: true
        timeline:
          description: The timeline the node writes (primary) or receives (replica).
          type: int
          returned: always
          sample: 2
        current_lsn:
          description: C(pg_current_wal_lsn()) on a primary; null on a replica.
          type: str
          returned: always
          sample: 0/3000148
        received_lsn:
          description: The WAL received (replica) or written (primary) up to.
          type: str
          returned: always
          sample: 0/3000148
        replayed_lsn:
          description: The WAL replayed up to.
          type: str
          returned: always
          sample: 0/3000148
        lag_bytes:
          description:
            - Bytes this replica is behind - the larger of received but not yet replayed WAL and, with the agent as a source,
              its distance from the leader's position; 0 on the primary.
            - Null when unknown - with the agent as a source, when it knows no leader's position to measure against.
          type: int
          returned: always
          sample: 0
        lag_seconds:
          description: Age of the last replayed transaction while WAL waits to be replayed, else 0; null without database access.
          type: float
          returned: always
          sample: 0.0
        replication:
          description: The rows of C(pg_stat_replication), with C(replay_lag_bytes) and lags in seconds.
          type: list
          elements: dict
          returned: always
          sample: [{"application_name": "qluster_167772172", "state": "streaming", "sync_state": "quorum",
                    "replay_lsn": "0/3000148", "replay_lag_bytes": 0}]
        slots:
          description: The rows of C(pg_replication_slots), with C(retained_bytes).
          type: list
          elements: dict
          returned: always
          sample: [{"slot_name": "qluster_167772172", "slot_type": "physical", "active": true}]
        archiver:
          description: The row of C(pg_stat_archiver) with C(failing) (the latest attempt failed).
          type: dict
          returned: always
          sample: {"archived_count": 12, "last_archived_wal": "000000010000000000000003", "failed_count": 0, "failing": false}
        wal_receiver:
          description: On a replica, the WAL receiver's status and sender host.
          type: dict
          returned: always
          sample: {"status": "streaming", "sender_host": "10.0.0.11"}
        map:
          description: The agent's C(GET /map) (leader, term, members with roles, WAL positions, lag).
          type: dict
          returned: always
          sample: {"leader": 167772171, "term": 3, "members": []}
        agent_member:
          description: This node's row of the map (see O(member)); empty when not found.
          type: dict
          returned: always
          sample: {"id": 167772171, "name": "qluster-01", "role": "leader", "state": "healthy"}
        health:
          description: The agent's C(GET /health) answer (C(ok) and the node's state).
          type: dict
          returned: always
          sample: {"path": "/health", "ok": true, "state": {"pg_running": true, "in_recovery": false}}
'''

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_module import run_module
from ansible_collections.qhb.qluster.plugins.module_utils.qhb_replication import (
    SQL_ARCHIVER, SQL_IN_RECOVERY, SQL_PRIMARY, SQL_REPLICA, SQL_REPLICATION, SQL_SLOTS,
    apply_api, apply_db, base_facts, pick_member)

try:
    import psycopg2
    import psycopg2.extras
except ImportError:
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()
    HAS_PSYCOPG2 = False
else:
    PSYCOPG2_IMPORT_ERROR = None
    HAS_PSYCOPG2 = True


def read_database(module, facts):
    p = module.params
    kwargs = dict(user=p['login_user'], dbname=p['login_db'], port=p['login_port'],
                  connect_timeout=p['connect_timeout'], application_name='qhb_replication_facts')
    host = p['login_host'] or p['login_unix_socket']
    if host:
        kwargs['host'] = host
    if p['login_password']:
        kwargs['password'] = p['login_password']
    where = '%s:%s' % (host or 'local socket', p['login_port'])
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        module.fail_json(msg='cannot connect to the database at %s as %s: %s'
                         % (where, p['login_user'], str(exc).strip()))
    try:
        conn.set_session(readonly=True, autocommit=True)
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(SQL_IN_RECOVERY)
            in_recovery = list(cur.fetchone().values())[0]
            cur.execute(SQL_REPLICA if in_recovery else SQL_PRIMARY)
            row = cur.fetchone()
            cur.execute(SQL_REPLICATION)
            replication = cur.fetchall()
            cur.execute(SQL_SLOTS)
            slots = cur.fetchall()
            cur.execute(SQL_ARCHIVER)
            archiver = cur.fetchone()
    except psycopg2.Error as exc:
        module.fail_json(msg='reading replication state from the database at %s failed: %s'
                         % (where, str(exc).strip()))
    finally:
        conn.close()
    return apply_db(facts, in_recovery, primary_row=None if in_recovery else row,
                    replica_row=row if in_recovery else None,
                    replication=replication, slots=slots, archiver=archiver)


def read_api(module, api, facts):
    cluster_map = api.get('/map')
    # /health answers 503 (with the same body) when the database is not running.
    health = api.get('/health', accept=(200, 503))
    row = pick_member(cluster_map, module.params['member'], module.params['api_url'], health)
    return apply_api(facts, cluster_map, health, row)


def source_problems(module):
    """What the argument spec cannot say about the sources."""
    sources = module.params['sources']
    if not sources:
        return ['sources must name at least one of api, db']
    if 'db' in sources and not HAS_PSYCOPG2:
        return [dict(msg=missing_required_lib('psycopg2') + ' (or set sources: [api])', exception=PSYCOPG2_IMPORT_ERROR)]
    return []


def read_facts(module, api):
    """The database first, then the agent (None when the sources leave it out)."""
    facts = base_facts()
    if 'db' in module.params['sources']:
        read_database(module, facts)
    if api is not None:
        read_api(module, api, facts)
    return dict(changed=False, ansible_facts={'qhb_replication': facts})


def main():
    run_module(
        dict(
            sources=dict(type='list', elements='str', choices=['api', 'db'], default=['api', 'db']),
            member=dict(type='str'),
            login_host=dict(type='str'),
            login_port=dict(type='int', default=5432),
            login_user=dict(type='str', default='qhb'),
            login_password=dict(type='str', no_log=True),
            login_db=dict(type='str', default='postgres'),
            login_unix_socket=dict(type='str'),
            connect_timeout=dict(type='int', default=10),
        ),
        read_facts,
        problems=source_problems,
        uses_api=lambda module: 'api' in module.params['sources'],
    )


if __name__ == '__main__':
    main()
