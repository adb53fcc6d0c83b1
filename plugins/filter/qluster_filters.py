# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters the roles' preflights use: to refuse a bad variable before any host changes, and to
find the interface that holds an address."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_settings import (
    cross_problems, validate_settings)


def cluster_settings_problems(settings):
    """Every problem of a config.yaml cluster section (qhb_node_agent_cluster), each naming the
    key, the value and the allowed range, as the agent and POST /config would refuse it."""
    valid, problems = validate_settings(settings)
    return problems + cross_problems(valid)


def interface_holding(facts, address):
    """The name of the network interface whose IPv4 address is ``address``, from a host's
    ``ansible_facts`` (each interface's facts under its name with - . : as _); '' when none."""
    facts = facts or {}
    for name in facts.get('interfaces') or []:
        interface = facts.get(re.sub(r'[-.:]', '_', str(name))) or {}
        ipv4 = interface.get('ipv4') if isinstance(interface, dict) else None
        if isinstance(ipv4, dict) and address and ipv4.get('address') == address:
            return interface.get('device') or ''
    return ''


class FilterModule(object):
    def filters(self):
        return {'cluster_settings_problems': cluster_settings_problems, 'interface_holding': interface_holding}
