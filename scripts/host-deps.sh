#!/usr/bin/env bash
# Installs what the lab and the test suite need on a Debian 12 machine, as root, and creates the
# Python virtualenv (.venv) with the Ansible tooling. Safe to run again: it only adds what is missing.
# Every failed precondition stops with one sentence naming what is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "qlab: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "this must run as root (the lab starts rootful podman containers); try: sudo make ${MAKE_TARGET:-lab}"
[ -r /etc/debian_version ] || die "this machine is not Debian-based; the lab is tested on Debian 12 only"

# podman image + rootfs + venv need a few GB; refuse early rather than fail half-way.
need_mb=4000
free_mb=$(df -Pm /var/lib | awk 'NR==2 {print $4}')
[ "${free_mb:-0}" -ge "$need_mb" ] || die "only ${free_mb} MB free under /var/lib, the lab needs at least ${need_mb} MB"
free_here=$(df -Pm . | awk 'NR==2 {print $4}')
[ "${free_here:-0}" -ge 1000 ] || die "only ${free_here} MB free in $(pwd), the virtualenv needs at least 1000 MB"

packages=(podman runc debootstrap openssh-client python3-venv python3-dev gcc iproute2 nftables libnfs-utils
          postgresql postgresql-contrib git rsync curl haproxy pgbouncer)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "qlab: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed: the Debian package mirror is not reachable"
  apt-get install -y -qq "${missing[@]}" >/tmp/qlab-apt.log 2>&1 \
    || die "could not install ${missing[*]} (see /tmp/qlab-apt.log)"
fi
command -v podman >/dev/null || die "podman is missing and could not be installed"

# The Debian cluster that the postgresql package creates is not ours: keep it stopped so its
# port 5432 does not collide with anything the tests start.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  pg_ctlcluster --mode fast 15 main stop 2>/dev/null || true
fi

venv=.venv
stamp=$venv/.requirements-installed
if [ ! -x $venv/bin/python ]; then
  /usr/bin/python3 -m venv $venv || die "could not create the virtualenv in $(pwd)/$venv"
fi
if [ ! -f $stamp ] || [ requirements-dev.txt -nt $stamp ] || [ files/qluster_agent/pyproject.toml -nt $stamp ]; then
  echo "qlab: installing the Python tooling into $venv"
  $venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
  $venv/bin/pip install -q -r requirements-dev.txt >/tmp/qlab-pip.log 2>&1 \
    || die "pip could not install requirements-dev.txt (see /tmp/qlab-pip.log)"
  $venv/bin/pip install -q -e files/qluster_agent -e lab >>/tmp/qlab-pip.log 2>&1 \
    || die "pip could not install the agent or the lab package (see /tmp/qlab-pip.log)"
  touch $stamp
fi
