"""The one error the SDK raises: the hub's error envelope, or what kept the request from an answer."""

from __future__ import annotations

from typing import Any, Dict, Optional

#: The request never got an answer: the connection was refused, reset or the host unknown.
NETWORK_ERROR = 'NETWORK_ERROR'
#: No answer within the client's `timeout`.
TIMEOUT = 'TIMEOUT'
#: An answer that is not the hub's envelope (a proxy's page, a truncated body).
INVALID_RESPONSE = 'INVALID_RESPONSE'


class MCPHubError(Exception):
    """An error answer of the hub, or a request that got none.

    `code` is the contract's code (`RESOURCE_NOT_FOUND`, `VALIDATION_ERROR`, …) or one of the
    SDK's own (`NETWORK_ERROR`, `TIMEOUT`, `INVALID_RESPONSE`); `status` is the HTTP status (None
    without an answer); `retry_after` the seconds a 429 asks to wait. A network error keeps its
    cause in `__cause__`.
    """

    def __init__(
        self,
        code: str,
        status: Optional[int],
        message: str,
        details: Optional[Dict[str, Any]] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def __str__(self) -> str:
        status = '' if self.status is None else f' {self.status}'
        return f'{self.code}{status}: {self.message}'

    def __repr__(self) -> str:
        return f'MCPHubError(code={self.code!r}, status={self.status!r}, message={self.message!r})'
