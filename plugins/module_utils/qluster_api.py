# -*- coding: utf-8 -*-
# Copyright (c) qhb.qluster maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The client of the qluster agent's HTTP API, shared by the collection's modules.

Self-contained on purpose: modules run on the managed host, where the agent's own package may
not be importable. Requests go through ``ansible.module_utils.urls.open_url``; a 503 (the agent
is starting, or a change found no quorum yet) is retried a bounded number of times, and every
failure names the method, the URL and the status with the agent's own message.

On a node, what the modules need comes from the agent's own config file (``agent_config``,
/etc/qluster/config.yaml) when the options leave it out, as qlusterctl does: the API token
(``api-token`` or the file ``api-token-file``), and with the agent's API over HTTPS
(``api-certfile``) the CA and the client certificate (``api-cafile``, ``api-certfile``,
``api-keyfile``), whose files must be readable. The default ``api_url`` is the node's plain
loopback listener; other members are then reached over https:// at their address.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible.module_utils.urls import open_url

DEFAULT_API_URL = 'http://127.0.0.1:8080'
DEFAULT_AGENT_CONFIG = '/etc/qluster/config.yaml'
RETRY_STATUSES = (503,)


def api_argument_spec():
    """The options every module that talks to the agent's API takes (see the doc fragment)."""
    return dict(
        api_url=dict(type='str', default=DEFAULT_API_URL),
        api_token=dict(type='str', no_log=True),
        api_timeout=dict(type='float', default=15.0),
        api_retries=dict(type='int', default=5),
        api_retry_delay=dict(type='float', default=1.0),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        client_cert=dict(type='path'),
        client_key=dict(type='path'),
        agent_config=dict(type='path', default=DEFAULT_AGENT_CONFIG),
    )


_TOP_LEVEL_SCALAR = re.compile(r'^([A-Za-z0-9_-]+):[ \t]*(.*?)[ \t]*$')


def read_agent_config(path):
    """The agent's config file as a dict; {} when there is none, it cannot be read or parsed.

    PyYAML reads it where installed (the agent needs it on every node); without it, the
    top-level ``key: value`` lines the modules need are read one by one (a JSON file as well).
    """
    if not path or not os.path.isfile(path) or not os.access(path, os.R_OK):
        return {}
    try:
        with open(path) as stream:
            text = stream.read()
    except (IOError, OSError, UnicodeDecodeError):
        return {}
    try:
        import yaml  # pylint: disable=import-outside-toplevel
    except ImportError:
        yaml = None
    if yaml is not None:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            return {}
        return data if isinstance(data, dict) else {}
    try:
        data = json.loads(text)
        return data if isinstance(data, dict) else {}
    except ValueError:
        pass
    data = {}
    for line in text.splitlines():
        match = _TOP_LEVEL_SCALAR.match(line)
        if match and match.group(2) and not match.group(2).startswith('#'):
            value = re.sub(r'\s+#.*$', '', match.group(2))
            data[match.group(1)] = value.strip('\'"')
    return data


def _readable(path):
    return path if isinstance(path, str) and path and os.access(path, os.R_OK) else None


def agent_token(agent):
    """The API token of the agent's config: ``api-token``, or ``api-token-file`` when readable."""
    token = agent.get('api-token')
    if isinstance(token, str) and token:
        return token
    path = _readable(agent.get('api-token-file'))
    if path is None:
        return None
    try:
        with open(path) as stream:
            return stream.read().strip() or None
    except (IOError, OSError):
        return None


class QlusterApiError(Exception):
    """A request that did not succeed: ``status`` is None when no HTTP answer came back."""

    def __init__(self, method, url, status, message, details=None):
        self.method = method
        self.url = url
        self.status = status
        self.message = message
        self.details = details
        self.body = None  # the decoded JSON answer of an HTTP error, when there was one
        super().__init__(self.describe())

    def __str__(self):
        return self.describe()

    def describe(self):
        where = '%s %s' % (self.method, self.url)
        if self.status is None:
            text = '%s failed: %s' % (where, self.message)
        else:
            text = '%s returned HTTP %s: %s' % (where, self.status, self.message)
        if self.details:
            if isinstance(self.details, (list, tuple)):
                text += ' (%s)' % '; '.join(str(item) for item in self.details)
            else:
                text += ' (%s)' % (self.details,)
        return text


class QlusterApi:
    """One agent's API. ``sleep`` is injectable so the retry policy can be tested without waiting."""

    def __init__(self, url, token=None, timeout=15.0, retries=5, retry_delay=1.0,
                 validate_certs=True, ca_path=None, sleep=time.sleep, client_cert=None, client_key=None,
                 member_scheme=None):
        if not url or '://' not in url:
            raise ValueError('api_url %r is not a URL (expected e.g. http://127.0.0.1:8080)' % (url,))
        scheme = url.split('://', 1)[0].lower()
        if scheme not in ('http', 'https'):
            raise ValueError('api_url %r must start with http:// or https://' % (url,))
        if timeout is None or timeout <= 0:
            raise ValueError('api_timeout must be positive, not %r' % (timeout,))
        if retries is None or retries < 0:
            raise ValueError('api_retries must be 0 or more, not %r' % (retries,))
        self.base_url = url.rstrip('/')
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = max(0.0, retry_delay or 0.0)
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        # How other members' agents are reached; None: as this one (https when the agent config
        # says the members' APIs speak HTTPS, though this one is the plain loopback listener).
        self.member_scheme = member_scheme
        self._sleep = sleep

    @classmethod
    def from_module(cls, module):
        """The API of the module's options; what they leave out comes from the agent's config
        file when it is readable (see the module's docstring)."""
        params = module.params
        agent = read_agent_config(params.get('agent_config'))
        agent_tls = bool(agent.get('api-certfile'))
        url = params['api_url'] or ''
        tls_wanted = agent_tls or url.lower().startswith('https://')
        ca_path, client_cert, client_key = params.get('ca_path'), params.get('client_cert'), params.get('client_key')
        if tls_wanted:
            ca_path = ca_path or _readable(agent.get('api-cafile'))
            if client_cert is None:
                own_cert, own_key = _readable(agent.get('api-certfile')), _readable(agent.get('api-keyfile'))
                if own_cert and own_key:
                    client_cert, client_key = own_cert, own_key
        try:
            return cls(url, token=params.get('api_token') or agent_token(agent), timeout=params['api_timeout'],
                       retries=params['api_retries'], retry_delay=params['api_retry_delay'],
                       validate_certs=params['validate_certs'], ca_path=ca_path, client_cert=client_cert,
                       client_key=client_key, member_scheme='https' if agent_tls else None)
        except ValueError as exc:
            module.fail_json(msg=str(exc))

    def for_member(self, address, api_port):
        """The same token and TLS options against another agent, without retries: a member's
        address and API port as the map lists them."""
        host = '[%s]' % address if ':' in address else address
        scheme = self.member_scheme or self.base_url.split('://', 1)[0]
        return QlusterApi('%s://%s:%s' % (scheme, host, api_port), token=self.token, timeout=self.timeout,
                          retries=0, validate_certs=self.validate_certs, ca_path=self.ca_path, sleep=self._sleep,
                          client_cert=self.client_cert, client_key=self.client_key,
                          member_scheme=self.member_scheme)

    # ---------------------------------------------------------------------------------------
    def get(self, path, accept=(200,)):
        return self.request('GET', path, accept=accept)[1]

    def post(self, path, body):
        return self.request('POST', path, body=body)[1]

    def delete(self, path_template, member):
        return self.request('DELETE', path_template % quote(str(member), safe=''))[1]

    def url_for(self, path):
        return self.base_url + path

    def request(self, method, path, body=None, accept=(200,)):
        """Return (status, decoded JSON) for a status in ``accept``; raise QlusterApiError otherwise.

        A 503 is retried up to ``retries`` times, ``retry_delay`` seconds apart; so is a
        connection failure of a GET (a read can always be repeated; a change that may have
        reached the agent is not sent twice).
        """
        url = self.url_for(path)
        headers = {'Accept': 'application/json'}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers['Content-Type'] = 'application/json'
        if self.token:
            headers['Authorization'] = 'Bearer %s' % self.token
        attempt = 0
        while True:
            attempt += 1
            try:
                status, payload = self._send(method, url, data, headers)
            except QlusterApiError as exc:
                retryable = exc.status in RETRY_STATUSES or (exc.status is None and method == 'GET')
                if exc.status is not None and exc.status in accept:
                    return exc.status, exc.body if exc.body is not None else {}
                if retryable and attempt <= self.retries:
                    self._sleep(self.retry_delay)
                    continue
                if retryable and attempt > 1:
                    exc.message += ' (after %d attempts)' % attempt
                raise
            if status in accept:
                return status, payload
            raise QlusterApiError(method, url, status, 'unexpected status')

    def _send(self, method, url, data, headers):
        try:
            response = open_url(url, data=data, headers=headers, method=method, timeout=self.timeout,
                                validate_certs=self.validate_certs, ca_path=self.ca_path,
                                client_cert=self.client_cert, client_key=self.client_key,
                                follow_redirects='none')
            raw = response.read()
            return response.getcode(), _decode(raw, method, url, response.getcode())
        except HTTPError as exc:
            try:
                raw = exc.read()
            except Exception:  # pylint: disable=broad-except
                raw = b''
            payload = _decode_error(raw)
            message = payload.get('error') if isinstance(payload, dict) else None
            details = payload.get('details') if isinstance(payload, dict) else None
            error = QlusterApiError(method, url, exc.code, message or exc.reason or 'error', details)
            # A status the caller accepts (e.g. 503 from a health endpoint) keeps its whole body.
            error.body = payload
            raise error from None
        except URLError as exc:
            raise QlusterApiError(method, url, None, 'cannot reach the agent: %s' % (exc.reason,)) from None
        except (OSError, ValueError) as exc:
            raise QlusterApiError(method, url, None, 'cannot reach the agent: %s' % (exc,)) from None


def _decode(raw, method, url, status):
    if not raw or not raw.strip():
        return {}
    try:
        return json.loads(raw.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:
        raise QlusterApiError(method, url, status, 'the answer is not JSON: %s' % (exc,)) from None


def _decode_error(raw):
    if not raw:
        return {}
    try:
        return json.loads(raw.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        return {'error': raw.decode('utf-8', 'replace').strip()[:200]}
