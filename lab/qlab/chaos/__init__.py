"""The chaos test: writers and split-brain probes while a seeded nemesis breaks the lab.

    python -m qlab.chaos --events 12 --seed 1 --lab qlabt

clients.py   writers recording every acknowledged commit (pooler and multi-host string)
probes.py    a write on each node's own database, continuously: overlapping successes = split brain
nemesis.py   the seeded schedule of faults and how each is applied and healed
checker.py   convergence and the verdict
run.py       one run from start to verdict; inhost.py and remote.py run programs inside the hosts
"""
