"""The client: the generated resources over the transport, with what a person needs by hand."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Iterator, Literal, Optional, Tuple, Type

from . import _resources
from ._transport import Transport, ndjson_lines
from ._types import HubConfig, LogLine

LogLevel = Literal['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']


class Servers(_resources.Servers):
    __doc__ = _resources.Servers.__doc__

    def follow_logs(
        self,
        server_id: str,
        *,
        level: Optional[LogLevel] = None,
        since: Optional[str] = None,
        limit: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> Iterator[LogLine]:
        """A server's log lines as they come: the recent ones matching `level`/`since`, then each new one.

        A generator over the NDJSON stream of `GET /api/servers/{serverId}/logs?follow=true`; it
        ends when the hub ends the stream (the server deleted, the hub closing). Close it (or
        leave a `with contextlib.closing(...)` block) to end the request. `timeout` bounds each
        wait for the next line (None: wait as long as it takes).
        """
        response = self._transport.open(
            'GET', '/api/servers/{serverId}/logs',
            path_params={'serverId': server_id},
            query={'level': level, 'since': since, 'limit': limit, 'follow': True},
            timeout=timeout,
        )
        return ndjson_lines(response, self._transport.network_error)


class Config(_resources.Config):
    __doc__ = _resources.Config.__doc__

    def get_with_etag(self) -> Tuple[HubConfig, str]:
        """The settings and their version (the `ETag`), to send back as `update(if_match=...)`."""
        status, headers, payload = self._transport.send('GET', '/api/config')
        config: HubConfig = self._transport.decode(status, headers, payload, result='json')
        return config, headers.get('ETag', '*')

    def update_with_etag(self, etag: str, **sections: Any) -> Tuple[HubConfig, str]:
        """Replaces these sections only if the settings are still at `etag`'s version (else a 409
        `RESOURCE_CONFLICT`); returns the new settings and their version."""
        status, headers, payload = self._transport.send('PUT', '/api/config', headers={'if-match': etag}, body=sections)
        config: HubConfig = self._transport.decode(status, headers, payload, result='json')
        return config, headers.get('ETag', '*')


class MCPHubClient(_resources.Resources):
    """A client of one hub.

    Credentials: `token` (an access token), `api_key`, or `username` and `password` (and
    `mfa_code` when the account has MFA): the client signs in on its first request and
    refreshes the access token `refresh_margin` seconds before it expires, or once when a
    request is refused with 401; threads share one client and one refresh.

    `timeout` (seconds) bounds each request; `max_retries` is how many times a request is sent
    again after a 429 (waiting `Retry-After`, unless `retry_rate_limited=False` or the wait
    exceeds `max_retry_after`) or, for idempotent methods, after the connection dropped.
    """

    servers: Servers
    config: Config

    def __init__(
        self,
        base_url: str,
        *,
        token: Optional[str] = None,
        api_key: Optional[str] = None,
        username: Optional[str] = None,
        password: Optional[str] = None,
        mfa_code: Optional[str] = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        retry_rate_limited: bool = True,
        max_retry_after: float = 60.0,
        refresh_margin: float = 60.0,
        user_agent: Optional[str] = None,
    ) -> None:
        self._transport = Transport(
            base_url, token=token, api_key=api_key, username=username, password=password,
            mfa_code=mfa_code, timeout=timeout, max_retries=max_retries,
            retry_rate_limited=retry_rate_limited, max_retry_after=max_retry_after,
            refresh_margin=refresh_margin, user_agent=user_agent,
        )
        super().__init__(self._transport)
        self.servers = Servers(self._transport)
        self.config = Config(self._transport)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def close(self) -> None:
        """Signs out the session this client signed in (if any); later requests fail."""
        self._transport.close()

    def __enter__(self) -> MCPHubClient:
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], error: Optional[BaseException], traceback: Optional[TracebackType]) -> None:
        self.close()

    def __repr__(self) -> str:
        return f'MCPHubClient(base_url={self.base_url!r}, credentials={self._transport.credential_kind!r})'
