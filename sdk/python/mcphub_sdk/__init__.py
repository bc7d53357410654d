"""Python client for the MCPHub API: `MCPHubClient(base_url=..., token=... | api_key=... | username=..., password=...)`."""

from ._client import Config, MCPHubClient, Servers
from ._errors import INVALID_RESPONSE, NETWORK_ERROR, TIMEOUT, MCPHubError
from ._transport import UNSET, Unset
from ._types import *  # noqa: F401,F403  (the TypedDicts, listed in _types.__all__)
from ._types import __all__ as _type_names
from ._version import __version__

__all__ = [
    'MCPHubClient',
    'MCPHubError',
    'NETWORK_ERROR',
    'TIMEOUT',
    'INVALID_RESPONSE',
    'UNSET',
    'Unset',
    'Servers',
    'Config',
    '__version__',
    *_type_names,
]
