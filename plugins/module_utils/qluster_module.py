# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one ``main()`` of the collection's modules that talk to the agent's API.

Each module says what it adds to the shared connection options and how it runs; ``run_module``
does the rest the same way for all of them: the argument spec, check mode (always supported:
every module plans before it acts), the client of the agent's API, a refused plan or a failed
request turned into ``fail_json``, and ``exit_json`` with the result.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import (
    QlusterApi, QlusterApiError, api_argument_spec)
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import PlanError


def fail_on_api_error(module, exc, **extra):
    """``fail_json`` for a request that did not succeed: its message, status, URL and details."""
    module.fail_json(msg=str(exc), status=exc.status, url=exc.url, details=exc.details, **extra)


def with_diff(module, result, before, after):
    """``result`` with the ``diff`` Ansible shows in diff mode (``--diff``): ``before`` and
    ``after`` as the module chooses to show them. Outside diff mode ``result`` is left as it is."""
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    return result


def wait_argument_spec(wait_timeout):
    """The options of a module that waits: ``wait``, ``wait_timeout`` (its default in seconds)
    and ``poll_interval``; each module documents what it waits for."""
    return dict(
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=wait_timeout),
        poll_interval=dict(type='float', default=2.0),
    )


def wait_problems(module):
    """What the argument spec cannot say about the options of a module that waits
    (``wait_timeout``, ``poll_interval``)."""
    problems = []
    if module.params['wait_timeout'] < 0:
        problems.append('wait_timeout must be 0 or more, not %s' % module.params['wait_timeout'])
    if module.params['poll_interval'] <= 0:
        problems.append('poll_interval must be positive, not %s' % module.params['poll_interval'])
    return problems


def run_module(options, run, problems=None, uses_api=None, module_class=AnsibleModule, **module_kwargs):
    """Build the module, check it, run it and exit; never returns.

    ``options``: the module's own options, added to ``api_argument_spec()``. ``module_kwargs``:
    the constraints AnsibleModule takes (``required_if``, ``mutually_exclusive``, ...).
    ``problems(module)``: what is wrong with the parameters beyond what the spec can say, each a
    message or a dict of ``fail_json`` arguments; the first one fails the module before anything
    is read. ``uses_api(module)``: whether this
    run needs the client (default: always); without it ``run`` gets None. ``run(module, api)``:
    the result dict; a PlanError (the request cannot be carried out as asked) fails with its
    message, a QlusterApiError with its status, URL and details.
    """
    argument_spec = api_argument_spec()
    argument_spec.update(options)
    module = module_class(argument_spec=argument_spec, supports_check_mode=True, **module_kwargs)
    for problem in (problems(module) if problems else []):
        module.fail_json(**(problem if isinstance(problem, dict) else {'msg': problem}))
    api = QlusterApi.from_module(module) if uses_api is None or uses_api(module) else None
    try:
        result = run(module, api)
    except PlanError as exc:
        module.fail_json(msg=str(exc))
    except QlusterApiError as exc:
        fail_on_api_error(module, exc)
    module.exit_json(**result)
