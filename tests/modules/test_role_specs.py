"""Every role's entry points have an argument spec, and the specs agree with the defaults.

Ansible checks a role's spec only for the entry point named exactly as `tasks_from` says:
`tasks_from: preflight.yml` matches no spec (the key is `preflight`), so nothing was checked
(issue 16). Role defaults are templated while the spec is checked, before the role's tasks load
its vars/<distribution>.yml: a default made of such a variable fails every run with "undefined"
(issue 16: qhb_node_nfs_client_packages).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (REPO / "roles").iterdir() if (path / "tasks" / "main.yml").exists())
INCLUDES = ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role")


def specs(role):
    return yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def defaults(role):
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def role_uses(node, where, found):
    """(file, role, entry point) of every include_role/import_role and `roles:` entry below node."""
    if isinstance(node, dict):
        for key in INCLUDES:
            if isinstance(node.get(key), dict):
                found.append((where, node[key]["name"].split(".")[-1], node[key].get("tasks_from", "main")))
        for entry in node.get("roles", []) if isinstance(node.get("roles"), list) else []:
            name = entry if isinstance(entry, str) else entry.get("role", entry.get("name"))
            found.append((where, name.split(".")[-1], "main"))
        for value in node.values():
            role_uses(value, where, found)
    elif isinstance(node, list):
        for item in node:
            role_uses(item, where, found)
    return found


def all_role_uses():
    found = []
    files = sorted((REPO / "playbooks").glob("*.yml")) + sorted((REPO / "playbooks" / "tasks").glob("*.yml"))
    files += sorted((REPO / "roles").glob("*/tasks/*.yml")) + [REPO / "site.yml"]
    for path in files:
        role_uses(yaml.safe_load(path.read_text()), str(path.relative_to(REPO)), found)
    return found


def test_the_playbooks_and_roles_use_roles():
    uses = all_role_uses()
    assert ("playbooks/site.yml", "qhb_node", "preflight") in uses
    assert {role for _where, role, _entry in uses} >= {"qhb_node", "nfs_server", "qcp_host", "cluster_ca"}


@pytest.mark.parametrize("where,role,entry", all_role_uses(), ids=str)
def test_every_entry_point_used_has_a_spec(where, role, entry):
    assert role in ROLES, f"{where} uses an unknown role {role}"
    assert entry in specs(role), (
        f"{where}: tasks_from {entry!r} of {role} matches no entry point of its argument spec "
        f"({', '.join(specs(role))}), so nothing is checked; name the entry point (without .yml)")
    assert (REPO / "roles" / role / "tasks" / f"{entry}.yml").exists()


@pytest.mark.parametrize("role", ROLES)
def test_the_main_spec_types_every_default_and_only_those(role):
    options = specs(role)["main"]["options"]
    assert sorted(set(defaults(role)) - set(options)) == [], "defaults without a spec"
    assert sorted(set(options) - set(defaults(role))) == [], "spec options without a default"


@pytest.mark.parametrize("role", ROLES)
def test_every_entry_points_options_are_the_roles_documented_variables(role):
    documented = set(defaults(role))
    for entry, spec in specs(role).items():
        assert set(spec.get("options", {})) <= documented, entry


@pytest.mark.parametrize("role", ROLES)
def test_no_default_is_made_of_a_distribution_variable(role):
    """The spec is checked (defaults templated) before the role loads vars/<distribution>.yml."""
    distribution_vars = set()
    for path in (REPO / "roles" / role / "vars").glob("*.yml"):
        if path.name != "main.yml":
            distribution_vars |= set(yaml.safe_load(path.read_text()) or {})
    role_vars = set(yaml.safe_load((REPO / "roles" / role / "vars" / "main.yml").read_text()) or {}) \
        if (REPO / "roles" / role / "vars" / "main.yml").exists() else set()
    for name, value in defaults(role).items():
        text = yaml.safe_dump(value)
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "".join(re.findall(r"\{\{.*?\}\}", text, re.S))))
        assert not words & distribution_vars, f"{name} templates {words & distribution_vars}"
        assert not words & role_vars - set(defaults(role)), f"{name} templates the internal {words & role_vars}"


@pytest.mark.parametrize("role", ROLES)
def test_the_defaults_pass_their_own_spec(role):
    options = specs(role)["main"]["options"]
    # Templated defaults are checked by Ansible once templated; the literal ones here.
    literal = {name: value for name, value in defaults(role).items() if "{{" not in yaml.safe_dump(value)}
    result = ArgumentSpecValidator(options).validate(literal)
    assert result.error_messages == []


def test_the_spec_of_qhb_node_users_refuses_wrong_kinds():
    options = specs("qhb_node")["main"]["options"]
    good = {"qhb_node_users": [{"name": "app", "password": "x" * 12, "conn_limit": 5, "login": True, "privileges": [
        {"database": "app", "type": "table", "objs": "ALL_IN_SCHEMA", "schema": "public", "privs": "SELECT,INSERT"},
        {"database": "app", "type": "default_privs", "objs": ["TABLES"], "privs": ["SELECT"], "target_roles": ["app"]},
        {"database": "app", "type": "group", "objs": "readers", "state": "absent"}]},
        {"name": "old", "state": "absent"}]}
    assert ArgumentSpecValidator(options).validate(good).error_messages == []
    bad = {"qhb_node_users": [{"name": "app", "conn_limit": "lots", "state": "gone", "privilegs": [],
                               "privileges": [{"database": "app", "type": "view"}, {"privs": "SELECT"}]}]}
    errors = " | ".join(ArgumentSpecValidator(options).validate(bad).error_messages)
    assert "conn_limit" in errors and "lots" in errors
    assert "value of state must be one of: present, absent, got: gone" in errors
    assert "got: view found in qhb_node_users -> privileges" in errors
    assert "missing required arguments: database found in qhb_node_users -> privileges" in errors
    assert "privilegs" in errors  # a misspelt key is refused, not ignored
