"""What the tests share: the live hub given by the environment, sign-ins and TOTP codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import time
import unittest
import uuid

URL = os.environ.get('MCPHUB_URL')
ADMIN_USERNAME = os.environ.get('MCPHUB_ADMIN_USERNAME', 'admin')
ADMIN_PASSWORD = os.environ.get('MCPHUB_ADMIN_PASSWORD', '')
#: A real MCP server to store and start: {"command": ..., "args": [...]}.
FIXTURE = json.loads(os.environ.get('MCPHUB_FIXTURE', '{}'))
#: A second hub with a low anonymous rate limit (a few requests a minute).
LIMITED_URL = os.environ.get('MCPHUB_LIMITED_URL')

needs_hub = unittest.skipUnless(URL, 'set MCPHUB_URL (and MCPHUB_ADMIN_USERNAME, MCPHUB_ADMIN_PASSWORD, MCPHUB_FIXTURE) to a live hub')


def admin_client(**options):
    from mcphub_sdk import MCPHubClient
    return MCPHubClient(URL, username=ADMIN_USERNAME, password=ADMIN_PASSWORD, **options)


def unique(prefix: str) -> str:
    return f'{prefix}-{uuid.uuid4().hex[:10]}'


def totp(secret: str, step: int) -> str:
    """RFC 6238: HMAC-SHA1 over the 30 s step, dynamic truncation, 6 digits."""
    key = base64.b32decode(secret.upper() + '=' * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack('>Q', step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f'{(struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}'


def totp_step() -> int:
    return int(time.time() // 30)


def mfa_user(admin):
    """A new plain user with MFA enrolled (through the SDK): (username, password, a code not used yet)."""
    from mcphub_sdk import MCPHubClient
    username, password = unique('mfa'), 'a long enough password 1'
    admin.users.create(username=username, password=password, role='user')
    with MCPHubClient(URL, username=username, password=password) as plain:
        secret = plain.auth.enroll_mfa()['secret']
        step = totp_step()
        if not plain.auth.confirm_mfa(code=totp(secret, step))['enabled']:
            raise AssertionError('MFA is not enabled after confirming it')
    # A step once used is spent; the hub accepts the next one as well.
    return username, password, totp(secret, step + 1)
