"""The collection as a user gets it, without the lab: the tarball builds, installs with
`--no-deps` beside the collections it depends on (those of the `ansible` package in the venv;
Galaxy is never asked), every playbook is found by its collection name and passes
`--syntax-check` against the example inventory shipped in the collection, and the examples name
only variables that some role defines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PLAYBOOKS = sorted(p.stem for p in (REPO / "playbooks").glob("*.yml"))
# A task's module (`  community.crypto.x509_certificate:`) or a filter (`| ansible.utils.ipaddr`).
FQCN = re.compile(r"^\s*(?:-\s+)?([a-z0-9_]+\.[a-z0-9_]+)\.([a-z0-9_]+):|\|\s*([a-z0-9_]+\.[a-z0-9_]+)\.([a-z0-9_]+)",
                  re.MULTILINE)


def galaxy_dependencies() -> dict:
    return yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8")).get("dependencies") or {}


def dependency_root() -> Path:
    """The directory holding ansible_collections/ of the `ansible` package installed beside
    ansible-core (site-packages of this interpreter)."""
    return Path(sysconfig.get_paths()["purelib"])


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(collection directory, environment for ansible-*) of a copy installed from the built
    tarball, with only it and the dependencies on the collections path."""
    root = tmp_path_factory.mktemp("installed")
    missing = [name for name in galaxy_dependencies()
               if not (dependency_root() / "ansible_collections" / Path(*name.split("."))).is_dir()]
    if missing:
        pytest.skip(f"the ansible package in {dependency_root()} lacks {', '.join(missing)}")
    (root / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = False\n", encoding="utf-8")
    env = {**os.environ,
           "ANSIBLE_CONFIG": str(root / "ansible.cfg"),  # not the checkout's (its collections path links the checkout)
           "ANSIBLE_COLLECTIONS_PATH": f"{root / 'collections'}{os.pathsep}{dependency_root()}",
           "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
           "ANSIBLE_HOME": str(root / "home"),
           "ANSIBLE_LOCAL_TEMP": str(root / "tmp"),
           "ANSIBLE_NOCOLOR": "1"}
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(root / "dist"),
                            str(REPO)], env=env, cwd=root, capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = next((root / "dist").glob("qhb-qluster-*.tar.gz"))
    # --no-deps: the dependencies are on the collections path already, and Galaxy may be out of reach.
    install = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p",
                              str(root / "collections"), str(tarball)],
                             env=env, cwd=root, capture_output=True, text=True, check=False, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    collection = root / "collections" / "ansible_collections" / "qhb" / "qluster"
    assert (collection / "MANIFEST.json").is_file()
    return collection, env, tarball


def test_tarball_declares_dependencies_and_ships_examples(installed):
    collection, _env, tarball = installed
    names = tarfile.open(tarball).getnames()
    for wanted in ("examples/inventory/hosts.yml", "examples/inventory/group_vars/all.yml", "examples/vault.yml",
                   "playbooks/site.yml"):
        assert wanted in names
    for leaked in (".ansible/", ".venv/", "build/", "bench/", "lab/", "tests/", "files/qluster_agent/.pytest_cache/"):
        assert not [n for n in names if n.startswith(leaked)], f"{leaked} is in the tarball"
    assert not [n for n in names if ".egg-info" in n or "__pycache__" in n]
    manifest = yaml.safe_load((collection / "MANIFEST.json").read_text(encoding="utf-8"))
    deps = manifest["collection_info"]["dependencies"]
    assert {"ansible.posix", "community.crypto"} <= set(deps)
    assert "containers.podman" not in deps  # the lab's connection, not the collection's


def test_example_inventory_has_the_seed_topology(installed):
    collection, env, _tarball = installed
    inventory = collection / "examples" / "inventory" / "hosts.yml"
    done = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
                          env=env, cwd=collection.parents[2], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    listing = yaml.safe_load(done.stdout)
    assert len(listing["qhb_nodes"]["hosts"]) == 3
    assert listing["nfs_servers"]["hosts"] == listing["qcp_hosts"]["hosts"] == ["qluster-nfs"]
    for host, hostvars in listing["_meta"]["hostvars"].items():
        assert hostvars.get("ansible_host"), host
        assert hostvars.get("ansible_user"), host
        assert hostvars.get("qhb_node_databases"), f"{host} did not get group_vars/all.yml"


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax_from_the_installed_collection(installed, playbook):
    collection, env, _tarball = installed
    inventory = collection / "examples" / "inventory" / "hosts.yml"
    done = subprocess.run([str(BIN / "ansible-playbook"), f"qhb.qluster.{playbook}", "--syntax-check",
                           "-i", str(inventory)],
                          env=env, cwd=collection.parents[2], capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr


def test_every_collection_used_is_a_dependency_and_resolves(installed):
    """galaxy.yml lists each collection whose modules the roles and playbooks call, and those
    modules resolve from the dependencies' path (the syntax check does not load the tasks that
    roles include dynamically, such as the CA's)."""
    collection, env, _tarball = installed
    used: set[str] = set()  # collections, by a module or a filter of theirs
    modules: set[str] = set()
    for path in [*(collection / "roles").rglob("*.yml"), *(collection / "playbooks").rglob("*.yml")]:
        for match in FQCN.finditer(path.read_text(encoding="utf-8")):
            if match.group(1):
                used.add(match.group(1))
                modules.add(f"{match.group(1)}.{match.group(2)}")
            else:
                used.add(match.group(3))
    external = used - {"ansible.builtin", "qhb.qluster"}
    assert "community.crypto" in external  # the scan found the CA's modules
    assert external <= set(galaxy_dependencies()), f"used but not in galaxy.yml dependencies: {sorted(external)}"
    modules = sorted(m for m in modules if m.rsplit(".", 1)[0] in external)
    done = subprocess.run([str(BIN / "ansible-doc"), "-t", "module", "--json", *modules],
                          env=env, cwd=collection.parents[2], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(json.loads(done.stdout)) == modules, done.stderr


def role_variables(collection: Path) -> set[str]:
    """Every variable a role's defaults set or its argument specs (any entry point) describe."""
    names: set[str] = set()
    for role in (collection / "roles").iterdir():
        defaults = role / "defaults" / "main.yml"
        if defaults.is_file():
            names |= set(yaml.safe_load(defaults.read_text(encoding="utf-8")) or {})
        specs = role / "meta" / "argument_specs.yml"
        if specs.is_file():
            for entry in (yaml.safe_load(specs.read_text(encoding="utf-8")) or {}).get("argument_specs", {}).values():
                names |= set(entry.get("options") or {})
    return names


def test_examples_name_only_role_variables(installed):
    collection, _env, _tarball = installed
    known = role_variables(collection)
    assert "qhb_node_db_password" in known  # the roles were read
    files = sorted((collection / "examples" / "inventory" / "group_vars").rglob("*.yml"))
    files.append(collection / "examples" / "vault.yml")
    assert len(files) >= 2
    for path in files:
        unknown = sorted(set(yaml.safe_load(path.read_text(encoding="utf-8")) or {}) - known)
        assert not unknown, f"{path.relative_to(collection)} names variables no role has: {unknown}"
