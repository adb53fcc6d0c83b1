# The two commands of the README: `make lab` and `make test`. Everything runs as root on Debian 12.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help deps collection-install lab lab-down lab-clean lab-status image test test-agent test-pooler test-playbooks test-chaos \
        test-lab test-long lint sanity molecule build clean

help:
	@echo "make lab        bring up the 4-host lab and deploy the cluster into it (site.yml)"
	@echo "make lab-down   remove every container, network, volume and file of the lab"
	@echo "make lab-clean  lab-down, and also remove the lab image"
	@echo "make test       every test: agent unit+integration, lab faults, lint, sanity, molecule"
	@echo "make test-long  the lab tests too long for make test, each on a throwaway lab of its own"
	@echo "make build      build the collection tarball into build/"

deps:
	@MAKE_TARGET=$(firstword $(MAKECMDGOALS)) scripts/host-deps.sh

# Playbooks resolve qhb.qluster.* from .ansible/collections (ansible.cfg): a symlink to this
# checkout, so edits take effect at once and concurrent runs never see a half-installed copy.
COLLECTION_LINK := .ansible/collections/ansible_collections/qhb/qluster
collection-install:
	@if [ -d $(COLLECTION_LINK) ] && [ ! -L $(COLLECTION_LINK) ]; then rm -rf $(COLLECTION_LINK); fi
	@mkdir -p $(dir $(COLLECTION_LINK)) && ln -sfn ../../../.. $(COLLECTION_LINK)

image: deps
	@$(VENV)/bin/qlab image

lab: deps collection-install
	@$(VENV)/bin/qlab up

lab-status: deps
	@$(VENV)/bin/qlab status

lab-down: deps
	@$(VENV)/bin/qlab down

lab-clean: deps
	@$(VENV)/bin/qlab down --image

test: deps collection-install
	@scripts/run-tests.sh

test-agent: deps
	@cd files/qluster_agent && ../../$(VENV)/bin/pytest -q

test-lab: deps collection-install
	@$(VENV)/bin/pytest -q tests

# One lab test file alone (each is part of `make test` too): the pooler host's (issue 6), the
# day-2 playbooks' (issue 7; it ends by removing the cluster, leaving the lab's hosts bare).
test-pooler: deps collection-install
	@$(VENV)/bin/pytest -q tests/lab/test_pooler.py

test-playbooks: deps collection-install
	@$(VENV)/bin/pytest -q tests/lab/test_playbooks.py

# The short chaos run alone (issue 8; also part of `make test`).
test-chaos: deps collection-install
	@$(VENV)/bin/pytest -q tests/lab/test_chaos.py

# Lab tests that bring up and deploy a lab of their own, too long for `make test` (docs/testing.md):
# the pooler's virtual IP over two pooler hosts (issue 18 item 5, lab qlabv, ~10 min).
test-long: deps collection-install
	@QLAB_LONG=1 $(VENV)/bin/pytest -q -p no:cacheprovider tests/lab/test_pooler_vip.py

lint: deps collection-install
	@$(VENV)/bin/ansible-lint --profile production

sanity: deps
	@scripts/sanity.sh

molecule: deps collection-install image
	@PATH=$(CURDIR)/$(VENV)/bin:$$PATH QLAB_IMAGE=$$($(VENV)/bin/python -c "from qlab.image import IMAGE; print(IMAGE)") $(VENV)/bin/molecule test --all

build: deps
	@mkdir -p build && $(VENV)/bin/ansible-galaxy collection build --force --output-path build .

clean:
	rm -rf build .pytest_cache
