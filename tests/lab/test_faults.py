"""Each fault the library offers really takes effect, and undoing it really restores the host."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from qlab import lifecycle
from qlab.faults import wait_until

PORT = 8099
ANSWER_PORT = 8098  # the answering server's, apart from the listeners above


def start_listener(host) -> None:
    # A TCP service inside the host, detached from the exec session.
    host.sh(f"nohup python3 -m http.server {PORT} --bind 0.0.0.0 >/dev/null 2>&1 &")
    wait_until(lambda: tcp_answers(host.address), timeout=15, what=f"listener on {host.hostname}")


def tcp_answers(address: str, timeout: float = 1.0, port: int = PORT,
                question: bytes = b"GET / HTTP/1.0\r\n\r\n", reply: bytes = b"HTTP/") -> bool:
    """A TCP connection to the host's port answers the question with the reply (by default the
    listener above answers an HTTP request)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.sendall(question)
            return conn.recv(16).startswith(reply)
    except OSError:
        return False


def reaches(src, dst_address: str) -> bool:
    """TCP from inside src to the listener on dst, with a short timeout."""
    probe = (f"import socket; s = socket.create_connection(('{dst_address}', {PORT}), timeout=1); "
             "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); assert s.recv(5) == b'HTTP/'")
    return src.exec("python3", "-c", probe, check=False, timeout=20).returncode == 0


def test_exec_runs_a_command_inside_the_host(hosts):
    proc = hosts["qluster-02"].exec("hostname")
    assert proc.stdout.strip() == "qluster-02"


def test_journal_shows_what_the_host_logged(hosts):
    marker = f"qlab-test-{uuid.uuid4().hex}"
    host = hosts["qluster-01"]
    host.exec("logger", "-t", "qlabtest", marker)
    wait_until(lambda: marker in host.journal(lines=500), timeout=10, what="marker in the journal")


def test_kill_stops_every_process_and_start_brings_the_host_back(hosts):
    host = hosts["qluster-03"]
    start_listener(host)
    address = host.address
    host.kill()
    assert not host.is_running()
    assert not tcp_answers(address)
    host.start()
    assert host.is_running()
    assert host.exec("systemctl", "is-system-running", check=False).stdout.strip() in ("running", "degraded")
    # The listener was a process of the old boot: it is gone. The host kept its address.
    assert host.address == address
    assert not tcp_answers(host.address)


def mac_address(interface: str) -> str:
    return Path("/sys/class/net", interface, "address").read_text().strip()


# A TCP service that answers "answer" to each connection: at once, or, when the question is
# "wait", only once the flag file exists (the host answers when the test says so).
ANSWERING_SERVER = """
import os, socket, sys, time
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
while True:
    conn, _ = server.accept()
    if conn.recv(16).startswith(b"wait"):
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.05)
    conn.sendall(b"answer")
    conn.close()
"""


def test_an_answer_sent_after_a_host_is_killed_reaches_this_machine(hosts, test_lab):
    """A client on this machine waiting on a lab host (a benchmark's writer waiting on the pooler
    while the leader's host is killed) gets the answer. Were the bridge's MAC address to follow
    its ports, killing the host that lends it would change it, and the others would send their
    answers to the old address until their ARP entries expired: over a minute of silence on a
    connection that was already open, while host-to-host traffic flows."""
    bridge = lifecycle.bridge(test_lab)
    bridge_address = mac_address(bridge)
    lender = next((h for h in hosts.values() if mac_address(h.veth()) == bridge_address), hosts["qluster-03"])
    survivor = next(h for h in hosts.values() if h is not lender)
    flag = f"/tmp/answer-{uuid.uuid4().hex}"
    survivor.exec("sh", "-c", "cat > /tmp/answering_server.py", input=ANSWERING_SERVER)
    survivor.sh(f"nohup python3 /tmp/answering_server.py {ANSWER_PORT} {flag} >/dev/null 2>&1 &")
    wait_until(lambda: tcp_answers(survivor.address, port=ANSWER_PORT, question=b"ping", reply=b"answer"),
               timeout=15, what=f"the answering server on {survivor.hostname}")

    with socket.create_connection((survivor.address, ANSWER_PORT), timeout=3) as conn:
        conn.sendall(b"wait")
        port = lender.veth()
        lender.kill()
        wait_until(lambda: not Path("/sys/class/net", bridge, "brif", port).exists(), timeout=30,
                   what=f"{lender.hostname}'s interface gone from the bridge")
        survivor.exec("touch", flag)
        conn.settimeout(5)
        try:
            answer = conn.recv(16)
        except TimeoutError:
            pytest.fail(f"{survivor.hostname}'s answer did not arrive within 5 s after killing {lender.hostname}")
        assert answer == b"answer"
    assert mac_address(bridge) == bridge_address


def test_stop_is_a_clean_shutdown(hosts):
    host = hosts["qluster-03"]
    host.stop()
    assert not host.is_running()
    host.start()
    assert host.exec("hostname").stdout.strip() == "qluster-03"


def test_paused_host_answers_nothing_on_tcp_until_resumed(hosts):
    host = hosts["qluster-02"]
    start_listener(host)
    host.pause()
    assert host.is_paused()
    assert not tcp_answers(host.address, timeout=1.5)
    host.resume()
    assert tcp_answers(host.address)


def test_a_host_busy_fsyncing_can_still_be_paused(hosts):
    # A process in uninterruptible I/O makes a single `runc pause` give up about every other
    # time (measured); pause() must still freeze the host every time.
    host = hosts["qluster-03"]
    host.sh("printf 'while true; do dd if=/dev/zero of=/var/tmp/fsync-load.$1 bs=1M count=100"
            " conv=fsync 2>/dev/null; done\\n' > /var/tmp/fsync-load.sh")
    for writer in range(3):
        host.sh(f"nohup sh /var/tmp/fsync-load.sh {writer} >/dev/null 2>&1 &")
    try:
        for attempt in range(8):
            host.pause()
            assert host.is_paused(), f"pause {attempt + 1} of 8"
            host.resume()
    finally:
        host.sh("pkill -f fsync-load.sh; rm -f /var/tmp/fsync-load*", check=False)


def test_partitioned_host_cannot_reach_the_others_until_healed(hosts):
    victim, other = hosts["qluster-01"], hosts["qluster-02"]
    start_listener(victim)
    start_listener(other)
    assert reaches(victim, other.address)
    victim.partition()
    assert victim.is_partitioned()
    assert not reaches(victim, other.address)
    assert not reaches(other, victim.address)
    # Silent: inside the host the interface is still up, nothing reports an error.
    assert "state UP" in victim.exec("ip", "link", "show", "eth0").stdout
    victim.heal()
    wait_until(lambda: reaches(victim, other.address), timeout=15, what="reachability after heal")
    assert reaches(other, victim.address)


def test_unknown_host_is_refused(test_lab):
    from qlab.faults import Host
    with pytest.raises(KeyError, match="qluster-09"):
        Host(test_lab, "qluster-09")
