"""Stands in for ansible-test's pip bootstrap script (get-pip.py), which ansible-test downloads
from a host that these machines cannot reach. It does the same job from what is reachable: pip
from the interpreter's bundled ensurepip wheel, then the requested versions from the package index.
"""

import ensurepip
import subprocess
import sys

# get-pip.py options that `pip install` does not know.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=True)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
