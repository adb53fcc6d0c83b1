"""A change a follower forwards to the leader, signed with the cluster secret.

Without an api-token a node takes changes from its own loopback only (the seed's `curl` on the
node). The follower that received such a change has authorised it already, but to the leader the
forwarded request comes from another address. The follower therefore signs it with the cluster
secret every member holds (the transport's HMAC key): the leader accepts a change whose
signature it can verify, and nobody without the secret can make one. The signature covers a
timestamp, the method, the target and the body, and is accepted for MAX_SKEW_S either side of
the leader's clock, which bounds a replay.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "x-qluster-forwarded"  # lower case, as Request.headers holds names
MAX_SKEW_S = 30.0


def sign(key: bytes, method: str, target: str, body: bytes, now: float) -> str:
    stamp = f"{now:.3f}"
    return f"{stamp}:{_mac(key, stamp, method, target, body)}"


def verify(key: bytes, method: str, target: str, body: bytes, value: str, now: float) -> str | None:
    """None when `value` signs this request; otherwise why not, for the error message."""
    stamp, separator, mac = value.strip().partition(":")
    try:
        signed_at = float(stamp)
    except ValueError:
        signed_at = None
    if not separator or signed_at is None:
        return "the forwarded request's signature is malformed"
    if abs(now - signed_at) > MAX_SKEW_S:
        return (f"the forwarded request was signed {now - signed_at:+.0f} s from this node's clock "
                f"(more than {MAX_SKEW_S:.0f} s: are the nodes' clocks synchronised?)")
    if not hmac.compare_digest(mac, _mac(key, stamp, method, target, body)):
        return "the forwarded request's signature does not match (another cluster secret?)"
    return None


def _mac(key: bytes, stamp: str, method: str, target: str, body: bytes) -> str:
    message = f"{stamp}\n{method.upper()}\n{target}\n".encode() + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()
