"""A change a follower forwards to the leader, signed with the cluster secret.

Without an api-token (or with api-trust-loopback) a node takes changes from its own loopback (the
seed's `curl` on the node). The follower that received such a change has authorised it already,
but to the leader the forwarded request comes from another address. The follower therefore signs it with the cluster
secret every member holds (the transport's HMAC key): the leader accepts a change whose
signature it can verify, and nobody without the secret can make one.

The signature covers a timestamp, a random nonce, the node it is meant for, the method, the
target and the body. A node accepts it only if it is meant for itself, was made within
MAX_SKEW_S of its clock, and its nonce is new to it (SeenNonces remembers every nonce for as long
as the timestamp would pass): a captured forwarded change is carried out once, by the node it
was sent to, and never again (a replayed /reinit would wipe a replica again).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict

HEADER = "x-qluster-forwarded"  # lower case, as Request.headers holds names
MAX_SKEW_S = 30.0
# Nonces remembered at most: more changes than this within MAX_SKEW_S would need the secret, and
# the oldest is forgotten first (bounded memory whatever arrives).
MAX_NONCES = 4096
_NONCE = re.compile(r"[0-9a-f]{32}")


def sign(key: bytes, method: str, target: str, body: bytes, now: float, to_node: int) -> str:
    """The header value for a change forwarded to node `to_node`."""
    stamp, nonce = f"{now:.3f}", secrets.token_hex(16)
    return f"{stamp}:{nonce}:{to_node}:{_mac(key, stamp, nonce, str(to_node), method, target, body)}"


class SeenNonces:
    """The nonces of forwarded changes accepted within the last MAX_SKEW_S (thread-safe)."""

    def __init__(self, capacity: int = MAX_NONCES) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> when it was signed, oldest first
        self._lock = threading.Lock()

    def first_use(self, nonce: str, signed_at: float, now: float) -> bool:
        """Record `nonce`; False when it was recorded before."""
        with self._lock:
            while self._seen:  # forget what the clock check refuses anyway
                oldest, at = next(iter(self._seen.items()))
                if at >= now - MAX_SKEW_S and len(self._seen) < self._capacity:
                    break
                del self._seen[oldest]
            if nonce in self._seen:
                return False
            self._seen[nonce] = signed_at
            return True


def verify(key: bytes, method: str, target: str, body: bytes, value: str, now: float, node_id: int,
           seen: SeenNonces) -> str | None:
    """None when `value` signs this request for node `node_id` and was not used before;
    otherwise why not, for the error message."""
    parts = value.strip().split(":")
    if len(parts) != 4:
        return ("the forwarded request's signature is malformed (a member running an older agent "
                "signs without a nonce: upgrade it, or send the change to the leader)")
    stamp, nonce, to_node, mac = parts
    try:
        signed_at = float(stamp)
    except ValueError:
        return "the forwarded request's signature is malformed"
    if not _NONCE.fullmatch(nonce):
        return "the forwarded request's signature is malformed"
    if to_node != str(node_id):
        return f"the forwarded request was signed for node {to_node[:20]}, not for this node {node_id}"
    if abs(now - signed_at) > MAX_SKEW_S:
        return (f"the forwarded request was signed {now - signed_at:+.0f} s from this node's clock "
                f"(more than {MAX_SKEW_S:.0f} s: are the nodes' clocks synchronised?)")
    if not hmac.compare_digest(mac, _mac(key, stamp, nonce, to_node, method, target, body)):
        return "the forwarded request's signature does not match (another cluster secret?)"
    if not seen.first_use(nonce, signed_at, now):
        return "the forwarded request was carried out before: a signed change is accepted once (a replay?)"
    return None


def _mac(key: bytes, stamp: str, nonce: str, to_node: str, method: str, target: str, body: bytes) -> str:
    message = f"{stamp}\n{nonce}\n{to_node}\n{method.upper()}\n{target}\n".encode() + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()
