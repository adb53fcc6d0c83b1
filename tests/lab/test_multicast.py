"""UDP multicast reaches every lab host on the seed's group 239.0.0.1 (seed 000 §6.3).

One port beside the seed's 9999: the test lab may run the cluster already (the chaos and pooler
tests deploy it), and its agents' hellos on 9999 would reach the receiver first."""

from __future__ import annotations

import uuid

from qlab.faults import wait_until

GROUP, PORT = "239.0.0.1", 9998

# Joins the group on the host's own interface address, as the agent does (LAB-NOTES: a socket
# bound to its interface works even on networks without a multicast route).
RECEIVER = f"""
import socket, struct, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("{GROUP}", {PORT}))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton("{GROUP}") + socket.inet_aton(addr))
s.settimeout(30)
open("/tmp/mcast.ready", "w").close()
while True:
    data, src = s.recvfrom(2048)
    if data.startswith(b"hello-"):
        break
open("/tmp/mcast.out", "w").write(data.decode() + " from " + src[0])
"""

SENDER = f"""
import socket, sys
addr, payload = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for _ in range(3):
    s.sendto(payload.encode(), ("{GROUP}", {PORT}))
"""


def test_multicast_datagram_reaches_every_other_host(hosts):
    sender = hosts["qluster-01"]
    receivers = [hosts["qluster-02"], hosts["qluster-03"], hosts["qluster-nfs"]]
    for host in receivers:
        host.sh("rm -f /tmp/mcast.ready /tmp/mcast.out")
        host.exec("sh", "-c", "cat > /tmp/mcast_recv.py", input=RECEIVER)
        host.sh(f"nohup python3 /tmp/mcast_recv.py {host.address} >/tmp/mcast.log 2>&1 &")
    for host in receivers:
        wait_until(lambda h=host: h.exec("test", "-e", "/tmp/mcast.ready", check=False).returncode == 0,
                   timeout=15, what=f"receiver ready on {host.hostname}")
    payload = f"hello-{uuid.uuid4().hex}"
    sender.exec("python3", "-c", SENDER, sender.address, payload)
    for host in receivers:
        out = wait_until(lambda h=host: h.exec("cat", "/tmp/mcast.out", check=False).stdout,
                         timeout=15, what=f"datagram on {host.hostname}")
        assert out == f"{payload} from {sender.address}"
