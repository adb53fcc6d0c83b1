# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster's runtime settings (seed 000 section 10.5) as ``POST /config`` takes them.

A mirror of the agent's key table (files/qluster_agent/qluster_agent/config/keys.py, the keys
marked ``runtime``), so that a module rejects an unknown key or a bad value before it sends
anything; a unit test compares the two tables. Pure functions only: no I/O.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import difflib
import re

DURATION = 'duration'
BOOLEAN = 'boolean'
INTEGER = 'integer'

_SECOND = 1000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE

# name -> (kind, (minimum, maximum)): milliseconds for durations, ends included; None for booleans.
# The agent's ranges (keys.py); a value outside is refused before any API call.
SETTINGS = {
    'node-timeout': (DURATION, (100, _MINUTE)),
    'heartbeat-interval': (DURATION, (10, _MINUTE)),
    'pre-voting-timeout': (DURATION, (50, _MINUTE)),
    'leader-voting-timeout': (DURATION, (50, _MINUTE)),
    'quorum-replication': (BOOLEAN, None),
    'replication-factor': (INTEGER, (0, 1000)),
    'replication-retry-interval': (DURATION, (10, _MINUTE)),
    'autoremove-enabled': (BOOLEAN, None),
    'autoremove-minimum': (INTEGER, (0, 1000)),
    'remove-interval': (DURATION, (_SECOND, 24 * _HOUR)),
    'set-leader-timeout': (DURATION, (_SECOND, 10 * _MINUTE)),
}

# Keys of config.yaml that exist but cannot be changed through the API.
NOT_RUNTIME = ('ip', 'api-port', 'hello-retry-interval', 'cluster-id', 'node-id', 'role', 'data-dir',
               'secret', 'secret-file', 'insecure-no-auth', 'api-token', 'api-token-file',
               'api-trust-loopback', 'api-certfile', 'api-keyfile', 'api-cafile', 'api-verify-client',
               'tick-interval', 'pooler-hold-file', 'postgres', 'peers', 'max-log-size')

_UNIT_MS = {'ms': 1, 's': 1000, 'm': 60000, 'h': 3600000}
_DURATION_RE = re.compile(r'^\s*([0-9]+)(?:\.([0-9]+))?\s*(ms|s|m|h)\s*$')
# As the agent: more digits before the point is out of every range (999999999999ms is 31 years),
# and a fraction of more digits than this is finer than 1ms in every unit.
MAX_WHOLE_DIGITS = 12
_MAX_FRACTION_DIGITS = 7
_SHOWN_CHARS = 40
_TRUE = ('true', 'yes', 'on', '1')
_FALSE = ('false', 'no', 'off', '0')
DURATION_HINT = 'use e.g. 500ms, 5s, 1m'


class DurationTooLong(ValueError):
    """More than MAX_WHOLE_DIGITS digits before the point: out of every key's range."""


def shown(value):
    """The value as a message quotes it: repr(), shortened when long (as the agent does)."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return '%s... (%d characters)' % (text[:_SHOWN_CHARS], len(text))


def duration_ms(value):
    """Milliseconds of a duration string ('500ms', '5s', '1.5s', '1m', '1h'); ValueError otherwise.

    A bare number is refused, as the agent refuses it: 30 could mean seconds or milliseconds.
    The key's range is checked by normalize_value.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError('%r has no unit (%s)' % (value, DURATION_HINT))
        raise ValueError('%r is not a duration (%s)' % (value, DURATION_HINT))
    match = _DURATION_RE.match(value)
    if match is None:
        raise ValueError('%r is not a duration (%s)' % (value, DURATION_HINT))
    whole, fraction, unit = match.groups()
    whole = whole.lstrip('0')
    fraction = (fraction or '').rstrip('0')
    if len(whole) > MAX_WHOLE_DIGITS:
        raise DurationTooLong('%s is too long (at most %d digits before the point)' % (shown(value), MAX_WHOLE_DIGITS))
    if len(fraction) > _MAX_FRACTION_DIGITS:
        raise ValueError('%r is finer than 1ms' % (value,))
    scale = 10 ** len(fraction)
    numerator = (int(whole or '0') * scale + int(fraction or '0')) * _UNIT_MS[unit]
    if numerator % scale:
        raise ValueError('%r is finer than 1ms' % (value,))
    return numerator // scale


def range_text(name):
    """The allowed range of a key as the agent writes it ('100ms..1m', '0..1000'); None for booleans."""
    kind, bounds = SETTINGS[name]
    if bounds is None:
        return None
    if kind == DURATION:
        return '%s..%s' % (format_ms(bounds[0]), format_ms(bounds[1]))
    return '%d..%d' % bounds


def format_ms(millis):
    """The largest unit that states ``millis`` exactly, as the agent writes it: 60000 -> '1m'."""
    for unit in ('h', 'm', 's'):
        size = _UNIT_MS[unit]
        if millis and millis % size == 0:
            return '%d%s' % (millis // size, unit)
    return '%dms' % millis


def normalize_name(name):
    """'node_timeout' and 'cluster.node-timeout' both name 'node-timeout'."""
    text = str(name).strip().replace('_', '-')
    if text.startswith('cluster.'):
        text = text[len('cluster.'):]
    return text


def normalize_value(name, value):
    """The value as the agent renders it (durations in canonical form); ValueError naming it."""
    kind, bounds = SETTINGS[name]
    if kind == DURATION:
        try:
            millis = duration_ms(value)
        except DurationTooLong:
            millis = None
        if millis is None or not bounds[0] <= millis <= bounds[1]:
            raise ValueError('%s is out of range %s' % (shown(value), range_text(name)))
        return format_ms(millis)
    if kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError('%r is not a boolean (use true or false)' % (value,))
    if isinstance(value, bool):
        raise ValueError('%r is not an integer' % (value,))
    if isinstance(value, str) and re.match(r'^\s*-?\d+\s*$', value):
        value = int(value)
    if not isinstance(value, int):
        raise ValueError('%r is not an integer' % (value,))
    low, high = bounds
    if not low <= value <= high:
        raise ValueError('%r is out of range %s' % (value, range_text(name)))
    return value


def unknown_key_problem(name):
    if name in NOT_RUNTIME:
        return '%s: not changeable at runtime (edit config.yaml and restart the agent)' % name
    close = difflib.get_close_matches(name, list(SETTINGS), n=1, cutoff=0.6)
    hint = ' (did you mean %s?)' % close[0] if close else ''
    return '%s: unknown key%s; known keys: %s' % (name, hint, ', '.join(sorted(SETTINGS)))


def validate_settings(desired):
    """Return ({name: canonical value}, problems). Every key is checked; nothing is dropped."""
    if not isinstance(desired, dict):
        return {}, ['settings must be a mapping of key: value, not %s' % type(desired).__name__]
    result = {}
    problems = []
    for raw_name in sorted(desired, key=str):
        name = normalize_name(raw_name)
        if name not in SETTINGS:
            problems.append(unknown_key_problem(name))
            continue
        if name in result:
            problems.append('%s: given twice (as %r and another spelling)' % (name, raw_name))
            continue
        try:
            result[name] = normalize_value(name, desired[raw_name])
        except ValueError as exc:
            problems.append('%s: %s' % (name, exc))
    return result, problems


def normalize_current(current):
    """The agent's GET /config answer in canonical form (keys it does not know are left out)."""
    normalized = {}
    for name, value in current.items():
        if name in SETTINGS:
            try:
                normalized[name] = normalize_value(name, value)
            except ValueError:
                normalized[name] = value
    return normalized


def cross_problems(settings):
    """Checks that involve two keys, on the merged settings (mirror of the agent's checks)."""
    problems = []
    heartbeat = heartbeat_problem(settings.get('heartbeat-interval'), settings.get('node-timeout'))
    if heartbeat is not None:
        problems.append(heartbeat)
    if settings.get('quorum-replication') is False and settings.get('replication-factor') == 0:
        problems.append('replication-factor: 0 with quorum-replication false leaves no commit rule '
                        '(set quorum-replication: true or replication-factor >= 1)')
    return problems


def heartbeat_problem(heartbeat, timeout):
    """Mirror of the agent's config/heartbeat.py heartbeat_problem without a tick-interval (the
    node that takes the request checks the lower end with its own); None when it fits."""
    if heartbeat is None or timeout is None:
        return None
    low, high = SETTINGS['heartbeat-interval'][1][0], duration_ms(timeout)
    if low > high or low <= duration_ms(heartbeat) <= high:
        return None
    return 'heartbeat-interval: %r is out of range %s..%s at node-timeout %r' % (
        format_ms(duration_ms(heartbeat)), format_ms(low), format_ms(high), format_ms(high))


def plan_config(current, desired):
    """What to send: (changes, before, after) with ``changes`` only the keys whose value differs.

    ``current`` is GET /config normalized, ``desired`` the validated settings.
    """
    changes = {}
    for name in sorted(desired):
        if current.get(name) != desired[name]:
            changes[name] = desired[name]
    after = dict(current)
    after.update(changes)
    return changes, dict(current), after
