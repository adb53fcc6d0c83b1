"""A fixed set of simulator seeds; the long run is `python -m tests.raft.sim --seeds 10000`."""
from __future__ import annotations

import pytest

from .sim import InvariantViolation, Sim, main

SEEDS = range(0, 240)


@pytest.mark.parametrize("chunk", range(0, len(SEEDS), 20))
def test_fixed_seeds_hold_every_invariant(chunk):
    for seed in SEEDS[chunk:chunk + 20]:
        Sim(seed, steps=600).run()


def test_a_violation_names_its_seed(monkeypatch):
    sim = Sim(3, steps=50)

    def broken(_unused):
        raise InvariantViolation("planted")

    monkeypatch.setattr(sim, "_check", broken)
    with pytest.raises(InvariantViolation, match="seed 3: planted"):
        sim.run()


def test_same_seed_same_run():
    a, b = Sim(11, steps=300), Sim(11, steps=300)
    a.run()
    b.run()
    assert a.leader_of_term == b.leader_of_term and a.committed == b.committed


def test_command_line_prints_the_summary(capsys):
    assert main(["--seeds", "3", "--steps", "100"]) == 0
    assert capsys.readouterr().out.strip().endswith("3 seeds, 0 invariant violations")
