#!/usr/bin/env bash
# `make test`: every stage runs even when an earlier one fails, so one run shows everything
# that is wrong; the exit status is non-zero when any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
export PATH="$PWD/$VENV/bin:$PATH"

declare -a results=()
failed=0
stage() {
  local name=$1; shift
  local start=$SECONDS
  echo
  echo "=== $name ==="
  if "$@"; then
    results+=("ok     $name ($((SECONDS - start)) s)")
  else
    results+=("FAILED $name ($((SECONDS - start)) s)")
    failed=1
  fi
}

stage "agent tests (pytest)" bash -c "cd files/qluster_agent && ../../$VENV/bin/pytest -q -p no:cacheprovider"
stage "lab and collection tests (pytest)" pytest -q -p no:cacheprovider tests
stage "ansible-lint (production profile)" ansible-lint --profile production
stage "ansible-test sanity" scripts/sanity.sh
# Molecule's scenarios name the lab image through QLAB_IMAGE; build it first if it is missing.
QLAB_IMAGE=$(python -c 'from qlab.image import IMAGE; print(IMAGE)')
export QLAB_IMAGE
stage "molecule test --all" bash -c "qlab image >/dev/null && molecule test --all"

echo
echo "=== summary ==="
printf '%s\n' "${results[@]}"
exit $failed
