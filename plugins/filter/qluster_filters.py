# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters the roles' preflight uses to refuse a bad variable before any host changes."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_settings import (
    cross_problems, validate_settings)


def cluster_settings_problems(settings):
    """Every problem of a config.yaml cluster section (qhb_node_agent_cluster), each naming the
    key, the value and the allowed range, as the agent and POST /config would refuse it."""
    valid, problems = validate_settings(settings)
    return problems + cross_problems(valid)


class FilterModule(object):
    def filters(self):
        return {'cluster_settings_problems': cluster_settings_problems}
