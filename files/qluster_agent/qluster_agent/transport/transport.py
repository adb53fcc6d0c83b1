"""Transport: moves opaque payloads between agents over UDP multicast (or a unicast peer list).

Two threads per transport, so neither discovery nor fragment recovery depends on how often the
consensus loop calls recv():
- the sender drains, in priority order, control work (NACKs, retransmissions), a due hello,
  then the message queue, pacing every datagram through the token bucket;
- the receiver reads the socket, rejects what is not authentic, new and addressed to us,
  reassembles fragments, asks for missing ones, and queues whole messages for recv().
Nothing that arrives from the network raises out of the transport: each refusal is a counter.

Idle, a node sends and receives a few dozen small messages a second (heartbeats, their answers,
hellos), so each thread wakes only when it has work: a one-datagram message sent while the
sender has nothing to do leaves at once from the caller's thread (send() never blocks: it falls
back to the sender when the socket's buffer or the token bucket says wait); the receiver sleeps
in poll() without a timeout unless partial messages are waiting for fragments; the sender's
work and the received messages have separate conditions, so one does not wake the other's thread.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .auth import derive_key
from .complaints import Complaints
from .discovery import PeerInfo, PeerTable
from .fragments import Reassembler, SentCache, decode_nack, encode_nack, nack_capacity, split
from .pacing import TokenBucket
from .replay import PeerTrust, Verdict, hello_tag, new_incarnation
from .settings import TransportSettings
from .sockets import open_socket
from .stats import Stats
from .wire import MAX_FRAGMENTS, OVERHEAD, Header, Kind, Rejected, cluster_tag, decode, encode

_log = logging.getLogger(__name__)

Address = tuple[str, int]
_RECEIVE_POLL = 0.02  # how often the receiver looks at partial messages while any are pending
_RECEIVE_BATCH = 64  # datagrams read per wake before partial messages are looked at again
_CLOSE_JOIN = 5.0  # seconds close() waits for each transport thread
_RECEIVE_BUFFER = 65536  # larger than any UDP datagram, so an oversized one is seen whole
_CONTROL_CAPACITY = 1024  # queued NACKs/retransmissions; the oldest go first when full
_MAX_NODE_ID = 2**64 - 1
# Seconds between two hellos when the metadata keeps changing. Short: a switchover's leader
# hands over when the target's hello says it holds the last WAL.
_MIN_HELLO_GAP = 0.02
# Seconds between two echoes to one peer (replay.PeerTrust): a recorded hello asking for echoes,
# replayed in a loop, makes us send a few small datagrams a second at most.
_MIN_ECHO_GAP = 0.05


class _Datagram(NamedTuple):
    """One datagram waiting to be sent (its sequence number is assigned when it leaves)."""

    kind: Kind
    dest: int
    msg_id: int
    frag_index: int
    frag_count: int
    payload: bytes
    addresses: tuple[Address, ...]


class _Message(NamedTuple):
    to: int | None
    payload: bytes


@dataclass(frozen=True)
class _Nack:
    sender: int
    address: Address
    msg_id: int
    missing: tuple[int, ...]


@dataclass(frozen=True)
class _Echo:
    """A hello addressed to a peer that carries its challenge back (replay.PeerTrust)."""

    peer: int
    address: Address
    tag: int


@dataclass(frozen=True)
class _Retransmit:
    requester: int
    address: Address
    msg_id: int
    indices: tuple[int, ...]


class Transport:
    def __init__(self, settings: TransportSettings, node_id: int, cluster_id: str, secret: bytes,
                 *, incarnation: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        """``incarnation`` must grow with every start of the node (see replay.new_incarnation);
        by default it is derived from the wall clock."""
        if not 1 <= node_id <= _MAX_NODE_ID:
            raise ValueError(f"node_id {node_id} is out of range 1..2**64-1")
        self._settings = settings
        self._node_id = node_id
        self._key = derive_key(secret, cluster_id)
        self._tag = cluster_tag(cluster_id)
        self._incarnation = new_incarnation() if incarnation is None else incarnation
        if not 1 <= self._incarnation <= _MAX_NODE_ID:
            raise ValueError("incarnation must fit in 64 bits")
        self._clock = clock
        self._stats = Stats()
        self._peer_table = PeerTable()
        self._group_addresses = self._broadcast_addresses(settings)
        # The sender's work, shared between threads, guarded by _cond.
        self._cond = threading.Condition()
        self._outbox: deque[_Message] = deque()
        self._control: deque[_Nack | _Retransmit | _Echo] = deque()
        self._hello_info = b""
        self._hello_listener: Callable[[int, bytes], None] | None = None  # on_hello_change
        self._hello_due = 0.0  # announce at once
        self._last_hello = float("-inf")
        self._closed = False
        # True while the sender thread waits in _cond for work: whoever holds _cond then owns the
        # sender's state below, and send() transmits a one-datagram message itself.
        self._sender_idle = False
        # Received messages for recv(), guarded by _inbox_lock. _inbox_ready is a bare lock used
        # as a flag, released while the inbox holds messages (or once closed, or by wake()):
        # recv() sleeps on it, which costs the caller far less per wake-up than a Condition's wait.
        self._inbox_lock = threading.Lock()
        self._inbox: deque[tuple[int, bytes]] = deque()
        self._inbox_ready = threading.Lock()
        self._inbox_ready.acquire()  # pylint: disable=consider-using-with  # a flag, not a critical section
        # The same kind of flag raised only by wake() and close(): recv() with messages_wake False
        # sleeps on it, so messages wait for the caller's own time (see recv).
        self._woken = threading.Lock()
        self._woken.acquire()  # pylint: disable=consider-using-with  # a flag, not a critical section
        # Owned by the sender thread (or by send() while the sender is idle, see _sender_idle).
        self._queued: deque[_Datagram] = deque()
        # (msg_id, fragment index, addresses) of DATA datagrams in _queued: a NACK for a fragment
        # that is still waiting to leave (first send or an earlier re-send) adds nothing.
        self._queued_fragments: set[tuple[int, int, tuple[Address, ...]]] = set()
        self._next_seq = 1
        self._next_msg_id = 1
        self._sent_cache = SentCache(settings.sent_cache_bytes)
        largest = settings.max_payload + OVERHEAD
        self._bucket = TokenBucket(settings.pacing_rate, max(largest, settings.pacing_rate // 100), clock())
        # The receiver's state, owned by whoever holds _read_lock: the receiver thread, or
        # drain() on the caller's thread.
        self._read_lock = threading.Lock()
        self._trust = PeerTrust(node_id)
        self._last_echo: dict[int, float] = {}  # peer -> when we last echoed its challenge
        self._reassembler = Reassembler(max_nacks=settings.max_nacks)
        self._complaints = Complaints()
        self._arrived: list[tuple[int, bytes]] = []  # whole messages not yet queued for recv()

        self._sock = open_socket(settings)
        # close() writes here to end the receiver's poll(), which otherwise has no timeout.
        self._wake_read, self._wake_write = os.pipe()
        self._threads = [
            threading.Thread(target=self._send_loop, name=f"transport-send-{node_id}", daemon=True),
            threading.Thread(target=self._receive_loop, name=f"transport-recv-{node_id}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # ---- the interface the consensus runtime uses -------------------------------------------

    @property
    def node_id(self) -> int:
        return self._node_id

    @property
    def incarnation(self) -> int:
        return self._incarnation

    def send(self, to: int | None, payload: bytes) -> None:
        """Queue ``payload`` for node ``to`` (None = every member). Never blocks; when the queue
        holds send-buffer-capacity messages the oldest is dropped (and counted)."""
        limit = MAX_FRAGMENTS * self._settings.max_payload
        if len(payload) > limit:
            raise ValueError(f"a message of {len(payload)} bytes exceeds the {limit}-byte limit")
        if to is not None and not 1 <= to <= _MAX_NODE_ID:
            raise ValueError(f"destination {to} is not a node id")
        if to == self._node_id:
            raise ValueError("a node does not send messages to itself")  # a caller's bug
        with self._cond:
            if self._closed:
                raise RuntimeError("transport is closed")
            if (self._sender_idle and len(payload) <= self._settings.max_payload
                    and not (self._control or self._queued or self._outbox)
                    and self._clock() < self._hello_due):
                # Nothing waits before this message and the sender thread is parked: sending it
                # here saves a thread wake-up per message. Never blocks (see _transmit).
                self._send_now(to, bytes(payload))
                return
            self._outbox.append(_Message(to, bytes(payload)))
            if len(self._outbox) > self._settings.send_capacity:
                self._outbox.popleft()
                self._stats.add("send_queue_dropped")
            self._cond.notify_all()

    def recv(self, timeout: float, messages_wake: bool = True) -> list[tuple[int, bytes]]:
        """Every (sender id, payload) received so far, waiting up to ``timeout`` s for the first.
        With ``messages_wake`` False the wait ends only on timeout, wake() or close(), and what
        arrived meanwhile is returned then: a caller that knows no message can change what it
        does before a time of its own spares itself a wake-up per message."""
        if timeout > 0 and not self._closed:
            # Returns at once when the flag is up (messages wait, or a wake); else when it is
            # raised, or on timeout.
            flag = self._inbox_ready if messages_wake else self._woken
            flag.acquire(True, timeout)  # pylint: disable=consider-using-with
        with self._inbox_lock:
            if not self._closed:  # lowered: the inbox is emptied, and a wake is answered
                self._inbox_ready.acquire(False)  # pylint: disable=consider-using-with
                self._woken.acquire(False)  # pylint: disable=consider-using-with
            messages = list(self._inbox)
            self._inbox.clear()
            return messages

    def wake(self) -> None:
        """End the current (or the next) recv() wait at once, with whatever is queued, perhaps
        nothing: the caller left work for the thread that receives (a consensus command)."""
        self._end_recv_wait()

    def drain(self) -> None:
        """Take in, on the caller's thread, the datagrams already waiting in the socket, for the
        next recv(). After the host was frozen or starved, the receiver thread may not have run
        yet: a leader that counted the lost time before the answers that came in meanwhile
        would step down although a quorum answered in time."""
        with self._read_lock:
            if not self._closed:
                self._read_datagrams(self._clock())
                self._deliver()

    def peers(self) -> dict[int, PeerInfo]:
        """Nodes heard from by hello, with their latest metadata and address."""
        return self._peer_table.snapshot()

    def on_hello_change(self, listener: Callable[[int, bytes], None] | None) -> None:
        """Call `listener(node_id, info)` on the receiving thread whenever a peer's hello says
        something else than its last one did (the first one included). It must return at once."""
        self._hello_listener = listener

    def set_hello(self, info: bytes) -> None:
        """Set the metadata announced every hello-retry-interval. Changed metadata is announced
        at once, but at most once per _MIN_HELLO_GAP, so a caller may set it on every loop."""
        if len(info) > self._settings.max_payload:
            raise ValueError(f"hello info of {len(info)} bytes does not fit in one datagram")
        with self._cond:
            if info == self._hello_info:
                return
            self._hello_info = bytes(info)
            self._hello_soon()

    def stats(self) -> dict[str, int]:
        return self._stats.snapshot()

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._end_recv_wait()
        os.write(self._wake_write, b"\0")
        # Bounded: a sender blocked in sendto (a full send buffer) must not keep the agent from
        # exiting; the threads are daemons and end with the process.
        for thread in self._threads:
            thread.join(_CLOSE_JOIN)
            if thread.is_alive():
                _log.warning("transport: %s did not end within %.0f s of close", thread.name, _CLOSE_JOIN)
        self._sock.close()
        if not self._threads[1].is_alive():  # else the receiver may still poll the pipe
            os.close(self._wake_read)
            os.close(self._wake_write)

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- sending -------------------------------------------------------------------------------

    @staticmethod
    def _broadcast_addresses(settings: TransportSettings) -> tuple[Address, ...]:
        if not settings.peers:
            return (settings.group.as_tuple(),)
        own = (settings.ip, settings.group.port)
        return tuple(peer.as_tuple() for peer in settings.peers if peer.as_tuple() != own)

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self._has_work():
                    self._sender_idle = True
                    self._cond.wait(max(0.0, self._hello_due - self._clock()))
                    self._sender_idle = False
                if self._closed:
                    return
                work = self._take_work()
            if isinstance(work, _Message):
                self._queue_message(work)
            elif isinstance(work, _Datagram):  # a hello
                self._queued.appendleft(work)
            elif work is not None:
                self._queue_control(work)
            if self._queued:
                self._transmit(self._queued.popleft())

    def _take_work(self) -> _Message | _Datagram | _Nack | _Retransmit | _Echo | None:
        """The next thing to plan, by priority; None when only queued datagrams remain.
        Called with _cond held."""
        if self._control:
            return self._control.popleft()
        hello = self._take_due_hello()
        if hello is not None:
            return hello
        # A new message only after every fragment of the previous one has left, so the
        # send-buffer-capacity bound applies to whole messages.
        if not self._queued and self._outbox:
            return self._outbox.popleft()
        return None

    def _has_work(self) -> bool:
        """Called with _cond held."""
        return bool(self._control or self._queued or self._outbox or self._closed
                    or self._clock() >= self._hello_due)

    def _take_due_hello(self) -> _Datagram | None:
        """Called with _cond held."""
        now = self._clock()
        if now < self._hello_due:
            return None
        self._hello_due = now + self._settings.hello_interval
        self._last_hello = now
        tag = hello_tag(self._trust.challenge, self._trust.wants_echo(now))
        return _Datagram(Kind.HELLO, 0, tag, 0, 1, self._hello_info, self._group_addresses)

    def _queue_message(self, message: _Message) -> None:
        msg_id = self._next_msg_id
        self._next_msg_id += 1
        pieces = split(message.payload, self._settings.max_payload)
        if len(pieces) > 1:
            self._sent_cache.remember(msg_id, pieces)
        addresses = self._addresses_for(message.to)
        dest = message.to or 0
        for index, piece in enumerate(pieces):
            self._queued.append(_Datagram(Kind.DATA, dest, msg_id, index, len(pieces), piece, addresses))
            self._queued_fragments.add((msg_id, index, addresses))
        self._stats.add("sent_messages")

    def _send_now(self, to: int | None, payload: bytes) -> None:
        """Transmit a one-datagram message from the caller's thread. Called with _cond held while
        the sender thread is idle; what cannot leave without waiting is left to that thread."""
        msg_id = self._next_msg_id
        self._next_msg_id += 1
        addresses = self._addresses_for(to)
        self._stats.add("sent_messages")
        datagram = _Datagram(Kind.DATA, to or 0, msg_id, 0, 1, payload, addresses)
        left = self._transmit(datagram, block=False)
        if left:
            self._queued.append(datagram._replace(addresses=left))
            self._queued_fragments.add((msg_id, 0, left))
            self._cond.notify_all()

    def _addresses_for(self, to: int | None) -> tuple[Address, ...]:
        """An addressed message goes straight to the node once we know where it is; before that
        it goes to everyone, and the others drop it by its destination id."""
        known = self._peer_table.address_of(to) if to is not None else None
        return (known,) if known is not None else self._group_addresses

    def _queue_control(self, work: _Nack | _Retransmit | _Echo) -> None:
        # Control datagrams jump the queue: a receiver waiting for one fragment holds a whole
        # message hostage, and a NACK is tiny; a peer that waits for an echo drops all we send.
        if isinstance(work, _Echo):
            with self._cond:
                info = self._hello_info
            self._queued.appendleft(_Datagram(Kind.HELLO, work.peer, work.tag, 0, 1, info, (work.address,)))
            self._stats.add("echoes_sent")
            return
        if isinstance(work, _Nack):
            step = nack_capacity(self._settings.max_payload)
            for start in range(0, len(work.missing), step):
                payload = encode_nack(work.msg_id, work.missing[start:start + step])
                self._queued.appendleft(_Datagram(Kind.NACK, work.sender, 0, 0, 1, payload, (work.address,)))
                self._stats.add("nacks_sent")
            return
        pieces = self._sent_cache.pieces(work.msg_id)
        if pieces is None:
            self._stats.add("nack_misses")
            return
        addresses = (work.address,)
        for index in reversed(work.indices):
            already_queued = {(work.msg_id, index, addresses), (work.msg_id, index, self._group_addresses)}
            if index >= len(pieces) or already_queued & self._queued_fragments:
                continue
            self._queued.appendleft(_Datagram(Kind.DATA, work.requester, work.msg_id, index,
                                              len(pieces), pieces[index], addresses))
            self._queued_fragments.add((work.msg_id, index, addresses))
            self._stats.add("fragments_retransmitted")

    def _transmit(self, item: _Datagram, block: bool = True) -> tuple[Address, ...]:
        """Send one datagram to each of its addresses. With ``block`` False (send() on the
        caller's thread), stop at the first address the token bucket or a full socket buffer
        would make wait, and return the addresses not served; the sender thread waits."""
        if item.kind is Kind.DATA and block:
            self._queued_fragments.discard((item.msg_id, item.frag_index, item.addresses))
        header = Header(item.kind, self._tag, self._node_id, self._incarnation, self._next_seq,
                        item.dest, item.msg_id, item.frag_index, item.frag_count)
        self._next_seq += 1
        datagram = encode(header, item.payload, self._key)
        for number, address in enumerate(item.addresses):
            try:
                if block:
                    if not self._wait_for_tokens(len(datagram)):
                        return ()
                    self._sock.sendto(datagram, address)
                else:
                    if self._bucket.wait_time(len(datagram), self._clock()) != 0.0:
                        return item.addresses[number:]
                    self._sock.sendto(datagram, socket.MSG_DONTWAIT, address)
            except BlockingIOError:
                if block:  # not expected of a blocking socket; counted like any send error
                    self._stats.add("send_errors")
                    continue
                return item.addresses[number:]  # the tokens taken are spent: pacing only errs slow
            except OSError:
                # ENETUNREACH while the link is down, ENOBUFS under load: UDP may lose datagrams
                # anyway, and the layers above retry. Counted, never raised.
                self._stats.add("send_errors")
                continue
            self._stats.add_together(sent_datagrams=1, sent_bytes=len(datagram),
                                     hellos_sent=int(item.kind is Kind.HELLO))
        return ()

    def _wait_for_tokens(self, size: int) -> bool:
        """Pace; False when the transport closed meanwhile."""
        while True:
            delay = self._bucket.wait_time(size, self._clock())
            if delay == 0.0:
                return True
            with self._cond:
                if self._cond.wait_for(lambda: self._closed, delay):
                    return False

    # ---- receiving -----------------------------------------------------------------------------

    def _receive_loop(self) -> None:
        # Polling instead of a socket timeout: the socket stays blocking for the sender, which
        # must wait for buffer space rather than lose a datagram when SO_SNDBUF is full.
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        while not self._closed:
            # Partial messages are looked at every _RECEIVE_POLL; without any, nothing is due
            # before a datagram arrives or close() writes to the wake pipe.
            ready = poller.poll(_RECEIVE_POLL * 1000 if self._reassembler.pending else None)
            if self._closed:
                return
            with self._read_lock:
                now = self._clock()
                if ready:
                    self._read_datagrams(now)
                try:
                    self._request_missing_fragments(now)
                except Exception:  # a bug here must not silently stop all receiving
                    self._stats.add("internal_errors")
                    _log.exception("transport: error while looking at partial messages")
                self._deliver()

    def _read_datagrams(self, now: float) -> None:
        """Handle every datagram waiting in the socket (up to _RECEIVE_BATCH): the answers of
        several peers to one heartbeat then reach recv() together, in one wake-up of its caller."""
        for _unused in range(_RECEIVE_BATCH):
            try:
                datagram, address = self._sock.recvfrom(_RECEIVE_BUFFER, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                continue  # e.g. ECONNREFUSED reported for an earlier unicast send
            try:
                self._on_datagram(datagram, address, now)
            except Exception:  # a bug here must not silently stop all receiving
                self._stats.add("internal_errors")
                _log.exception("transport: error while handling a datagram from %s", address)

    def _deliver(self) -> None:
        """Queue the whole messages of this wake-up for recv()."""
        if not self._arrived:
            return
        arrived, self._arrived = self._arrived, []
        with self._inbox_lock:
            self._inbox.extend(arrived)
            excess = len(self._inbox) - self._settings.recv_capacity
            for _unused in range(excess):
                self._inbox.popleft()
            # Counted once queued, so a caller that sees the count can recv() the message.
            self._stats.add_together(received_messages=len(arrived), recv_queue_dropped=max(0, excess))
            self._raise(self._inbox_ready)

    def _end_recv_wait(self) -> None:
        """Raise both recv() flags (wake() and close()): whichever kind of wait runs ends."""
        with self._inbox_lock:
            self._raise(self._inbox_ready)
            self._raise(self._woken)

    @staticmethod
    def _raise(flag: threading.Lock) -> None:
        """Raise a recv() flag (_inbox_ready, _woken); called with _inbox_lock held, the only
        place a flag is raised."""
        if flag.locked():
            flag.release()

    def _on_datagram(self, datagram: bytes, address: Address, now: float) -> None:
        """Handle one datagram from the network. Tests override this to simulate loss."""
        self._stats.add_together(received_datagrams=1, received_bytes=len(datagram))
        try:
            header, payload = decode(datagram, self._key, self._tag, self._settings.max_payload)
        except Rejected as rejected:
            self._stats.add(rejected.counter)
            self._complaints.refused(rejected.counter, address, now)
            return
        if header.sender == self._node_id:
            self._stats.add("dropped_own")  # our own multicast, looped back
            return
        if header.dest not in (0, self._node_id):
            self._stats.add("dropped_not_for_me")
            return
        hello = header.kind is Kind.HELLO
        if hello and header.dest == 0 and header.msg_id & 1:
            self._echo(header.sender, address, header.msg_id >> 1, now)
        waited_for = self._trust.waiting_run(header.sender)
        verdict = self._trust.check(hello, header.sender, header.incarnation, header.seq, header.dest,
                                    header.msg_id, now)
        if verdict is not Verdict.ACCEPT:
            self._stats.add(verdict.value)
            if verdict is Verdict.UNTRUSTED and self._trust.waiting_run(header.sender) != waited_for:
                self._announce_soon()  # a new run to trust: our next hello asks for its echo
            return
        news = self._peer_table.heard(header.sender, header.incarnation, address, now)
        if news is not None:
            _log.info("transport: node %d at %s:%d %s", header.sender, address[0], address[1], news)
        if header.kind is Kind.HELLO:
            self._on_hello(header, payload, address, now)
        elif header.kind is Kind.NACK:
            self._on_nack(header, payload, address)
        else:
            self._on_fragment(header, payload, address, now)

    def _on_hello(self, header: Header, payload: bytes, address: Address, now: float) -> None:
        self._stats.add("hellos_received")
        first, changed = self._peer_table.hello(header.sender, header.incarnation, address, payload, now)
        if first:
            _log.info("transport: node %d at %s:%d discovered", header.sender, address[0], address[1])
        listener = self._hello_listener
        if changed and listener is not None:
            try:
                listener(header.sender, payload)
            except Exception:  # the receiving thread must go on whatever a listener does
                _log.exception("transport: the hello listener failed")

    def _on_nack(self, header: Header, payload: bytes, address: Address) -> None:
        try:
            msg_id, indices = decode_nack(payload)
        except ValueError:
            self._stats.add("dropped_malformed")
            return
        self._stats.add("nacks_received")
        self._push_control(_Retransmit(header.sender, address, msg_id, tuple(indices)))

    def _on_fragment(self, header: Header, payload: bytes, address: Address, now: float) -> None:
        key = (header.sender, header.incarnation, header.msg_id)
        message = self._reassembler.add(key, header.frag_index, header.frag_count, payload, address, now)
        if header.frag_count > 1:  # a whole message in one datagram changes neither count
            self._stats.set("dropped_duplicate_fragment", self._reassembler.duplicates)
            self._stats.set("reassembly_evicted", self._reassembler.evicted)
        if message is not None:
            self._arrived.append((header.sender, message))  # queued by _deliver

    def _request_missing_fragments(self, now: float) -> None:
        if not self._reassembler.pending:
            return  # nothing to ask for, and nothing can have expired since the last look
        for request in self._reassembler.due_nacks(now, self._settings.effective_nack_delay):
            sender, _unused, msg_id = request.key
            self._push_control(_Nack(sender, request.address, msg_id, request.missing))
        self._stats.set("reassembly_expired", self._reassembler.expired)

    def _echo(self, peer: int, address: Address, challenge: int, now: float) -> None:
        """Answer a hello that asks for echoes: carry its challenge back to its sender (at most
        once per _MIN_ECHO_GAP: the request may be a recording played in a loop)."""
        if now - self._last_echo.get(peer, float("-inf")) < _MIN_ECHO_GAP:
            return
        self._last_echo[peer] = now
        self._push_control(_Echo(peer, address, hello_tag(challenge, self._trust.wants_echo(now))))

    def _announce_soon(self) -> None:
        with self._cond:
            self._hello_soon()

    def _hello_soon(self) -> None:
        """Bring the next hello forward to now, or _MIN_HELLO_GAP after the last one. Called with
        _cond held."""
        gap = min(_MIN_HELLO_GAP, self._settings.hello_interval)
        self._hello_due = min(self._hello_due, max(self._clock(), self._last_hello + gap))
        self._cond.notify_all()

    def _push_control(self, work: _Nack | _Retransmit | _Echo) -> None:
        with self._cond:
            self._control.append(work)
            if len(self._control) > _CONTROL_CAPACITY:
                self._control.popleft()
            self._cond.notify_all()
