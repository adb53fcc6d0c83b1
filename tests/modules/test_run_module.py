"""run_module, the one main() of the modules: the spec it builds, the problems and the refusals
it turns into fail_json, the client it builds only when the run needs one, and each module's
main() going through it with its own options."""

from __future__ import annotations

import pytest

from ansible_collections.qhb.qluster.plugins.module_utils import qluster_module
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import QlusterApi, QlusterApiError
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import PlanError
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_module import run_module
from ansible_collections.qhb.qluster.plugins.modules import (
    qhb_replication_facts, qluster_config, qluster_info, qluster_member, qluster_switchover)


class Ended(Exception):
    def __init__(self, how, result):
        super().__init__(how)
        self.how = how
        self.result = result


def fake_module(**given):
    """An AnsibleModule class with the spec's defaults and ``given`` as parameters."""

    class Module:
        built = []

        def __init__(self, argument_spec, supports_check_mode, **kwargs):
            self.argument_spec = argument_spec
            self.supports_check_mode = supports_check_mode
            self.kwargs = kwargs
            self.params = {name: spec.get('default') for name, spec in argument_spec.items()}
            self.params.update(given)
            self.check_mode = False
            Module.built.append(self)

        def fail_json(self, **result):
            raise Ended('fail', result)

        def exit_json(self, **result):
            raise Ended('exit', result)

    return Module


def ended(**kwargs):
    with pytest.raises(Ended) as info:
        run_module(**kwargs)
    return info.value


def test_the_spec_is_the_api_options_and_the_modules_own_with_check_mode_and_constraints():
    module_class = fake_module()
    done = ended(options=dict(name=dict(type='str')), run=lambda module, api: {'changed': False},
                 module_class=module_class, required_if=[('state', 'present', ('name',))])
    built = module_class.built[0]
    assert built.supports_check_mode is True and built.kwargs == {'required_if': [('state', 'present', ('name',))]}
    assert {'api_url', 'api_token', 'agent_config', 'name'} <= set(built.argument_spec)
    assert (done.how, done.result) == ('exit', {'changed': False})


def test_the_client_is_built_from_the_options_and_given_to_the_run():
    seen = []
    ended(options={}, run=lambda module, api: seen.append(api) or {'changed': False},
          module_class=fake_module(api_url='http://127.0.0.1:9999', agent_config=None))
    assert isinstance(seen[0], QlusterApi) and seen[0].base_url == 'http://127.0.0.1:9999'


def test_a_run_without_the_api_gets_no_client_and_a_bad_url_does_not_matter():
    seen = []
    ended(options={}, run=lambda module, api: seen.append(api) or {'changed': False},
          module_class=fake_module(api_url='not a url'), uses_api=lambda module: False)
    assert seen == [None]


def test_problems_fail_before_anything_runs_a_message_or_fail_json_arguments():
    def run(module, api):
        raise AssertionError('ran')

    done = ended(options={}, run=run, module_class=fake_module(), problems=lambda module: ['first', 'second'])
    assert done.result == {'msg': 'first'}
    done = ended(options={}, run=run, module_class=fake_module(),
                 problems=lambda module: [{'msg': 'no driver', 'exception': 'trace'}])
    assert done.result == {'msg': 'no driver', 'exception': 'trace'}


def test_a_refused_plan_and_a_failed_request_fail_the_same_way_for_every_module():
    def refuse(module, api):
        raise PlanError('refusing to remove it')

    def unreachable(module, api):
        raise QlusterApiError('GET', 'http://127.0.0.1:8080/map', 503, 'no quorum', ['try later'])

    assert ended(options={}, run=refuse, module_class=fake_module()).result == {'msg': 'refusing to remove it'}
    done = ended(options={}, run=unreachable, module_class=fake_module())
    assert done.how == 'fail' and done.result == {
        'msg': 'GET http://127.0.0.1:8080/map returned HTTP 503: no quorum (try later)', 'status': 503,
        'url': 'http://127.0.0.1:8080/map', 'details': ['try later']}


@pytest.mark.parametrize('module, own, kwargs', [
    (qluster_config, {'settings', 'paused'}, {'required_one_of'}),
    (qluster_info, {'member'}, set()),
    (qluster_member, {'state', 'id', 'name', 'address', 'switchover', 'switchover_to', 'wait_timeout'},
     {'required_one_of', 'required_if', 'problems'}),
    (qhb_replication_facts, {'sources', 'member', 'login_host', 'connect_timeout'}, {'problems', 'uses_api'}),
    (qluster_switchover, {'target', 'wait', 'wait_timeout', 'poll_interval'}, {'problems'}),
])
def test_each_modules_main_goes_through_run_module(monkeypatch, module, own, kwargs):
    calls = []
    monkeypatch.setattr(module, 'run_module', lambda options, run, **kw: calls.append((options, run, kw)))
    module.main()
    options, run, given = calls[0]
    assert own <= set(options) and callable(run) and set(given) == kwargs
    assert not set(options) & set(qluster_module.api_argument_spec())


@pytest.mark.parametrize('params, problem', [
    ({'wait_timeout': -1, 'poll_interval': 2.0}, 'wait_timeout must be 0 or more, not -1'),
    ({'wait_timeout': 10, 'poll_interval': 0}, 'poll_interval must be positive, not 0'),
])
def test_the_waiting_modules_problems(params, problem):
    class Module:
        pass

    module = Module()
    module.params = params
    assert qluster_module.wait_problems(module) == [problem]


def test_the_facts_module_needs_a_source():
    class Module:
        pass

    module = Module()
    module.params = {'sources': []}
    assert qhb_replication_facts.source_problems(module) == ['sources must name at least one of api, db']
    module.params = {'sources': ['api']}
    assert qhb_replication_facts.source_problems(module) == []


@pytest.mark.parametrize("diff_mode", [False, True])
def test_with_diff_adds_before_and_after_only_in_diff_mode(diff_mode):
    class Module:
        _diff = diff_mode

    result = qluster_module.with_diff(Module(), {"changed": True}, {"id": 1}, {})
    assert result == ({"changed": True, "diff": {"before": {"id": 1}, "after": {}}} if diff_mode else {"changed": True})
