#!/usr/bin/env bash
# ansible-test sanity with empty ignore files, on a copy of the collection in build/sanity.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$PWD/.venv
# ansible-test installs each test's pinned requirements into a virtualenv of its own, and
# bootstraps pip there with a script it would download: provide it.
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',$/\1/p" "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1)
[ -n "$pip_version" ] || { echo "sanity: cannot tell which pip ansible-test bootstraps" >&2; exit 1; }
mkdir -p ~/.ansible/test/cache
cp scripts/get_pip_offline.py ~/.ansible/test/cache/get_pip_${pip_version//./_}.py

# ansible-test needs the collection at .../ansible_collections/qhb/qluster: copy the tracked
# (and new, not ignored) files there.
dest=build/sanity/ansible_collections/qhb/qluster
rm -rf build/sanity
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$dest/"
cd "$dest"
# ansible-test lists targets with git; build/ is ignored by the outer repository, so give the
# copy a repository of its own.
git init -q . && git add -A
python_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PATH="$venv/bin:$PATH" "$venv/bin/ansible-test" sanity --python "$python_version" --color no
