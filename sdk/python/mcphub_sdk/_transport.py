"""HTTP to the hub with the standard library: credentials, the envelope, errors, retries."""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple, Union

from ._errors import INVALID_RESPONSE, NETWORK_ERROR, TIMEOUT, MCPHubError
from ._version import __version__


class Unset:
    """The value of a keyword argument that was not given: the field is left out of the body."""

    _instance: Optional[Unset] = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return 'UNSET'

    def __bool__(self) -> bool:
        return False


UNSET = Unset()

#: Methods the hub treats as idempotent: retried when the connection drops before an answer.
IDEMPOTENT = frozenset({'GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'})
#: What a dropped connection looks like: the request may not have reached the hub.
CONNECTION_DROPS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected)


class Session:
    """The signed-in session of a username/password client: its token pair and when it expires."""

    def __init__(self) -> None:
        self.token: Optional[str] = None
        self.refresh_token: Optional[str] = None
        self.expires_at = 0.0
        #: Counts sign-ins and refreshes: a caller that saw generation n knows whether it changed.
        self.generation = 0

    def __repr__(self) -> str:
        return f'Session(signed_in={self.token is not None}, generation={self.generation})'


class Transport:
    """Sends requests for the resources: one `request` method, the only one the generated code calls."""

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
        given = [name for name, value in (('token', token), ('api_key', api_key), ('username', username)) if value is not None]
        if len(given) > 1:
            raise ValueError(f'give one credential, not {" and ".join(given)}')
        if (username is None) != (password is None):
            raise ValueError('username and password go together')
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ('http', 'https') or not parts.netloc:
            raise ValueError('base_url must be an http(s) URL such as http://localhost:3000')
        self.base_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition('@')[2], parts.path.rstrip('/'), '', ''))
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_rate_limited = retry_rate_limited
        self.max_retry_after = max_retry_after
        self.refresh_margin = refresh_margin
        self.user_agent = user_agent or f'mcphub-sdk-python/{__version__}'
        self._token = token
        self._api_key = api_key
        self._username = username
        self._password = password
        self._mfa_code = mfa_code
        self._session = Session() if username is not None else None
        # One sign-in or refresh at a time: a refresh token spent twice revokes the whole session.
        self._session_lock = threading.Lock()
        self._opener = urllib.request.build_opener()
        self._closed = False

    @property
    def credential_kind(self) -> str:
        """`token`, `api_key`, `password` or `none`: never the credential itself."""
        if self._session is not None:
            return 'password'
        if self._api_key is not None:
            return 'api_key'
        return 'token' if self._token is not None else 'none'

    def __repr__(self) -> str:
        return f'Transport(base_url={self.base_url!r}, credentials={self.credential_kind!r})'

    def close(self) -> None:
        """Ends the session this client signed in (best effort) and refuses further requests."""
        if self._closed:
            return
        if self._session is not None and self._session.token is not None:
            try:
                self.request('POST', '/api/auth/logout', result='none')
            except MCPHubError:
                pass
        self._closed = True

    # --- the one method the generated resources call ---

    def request(
        self,
        method: str,
        template: str,
        *,
        path_params: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, Optional[str]]] = None,
        body: Optional[Mapping[str, Any]] = None,
        body_optional: bool = False,
        result: str = 'json',
        enveloped: bool = True,
        authenticated: bool = True,
    ) -> Any:
        """Sends one operation and returns its result: the envelope's `data`, the text, or None."""
        status, response_headers, payload = self.send(
            method, template, path_params=path_params, query=query, headers=headers, body=body,
            body_optional=body_optional, authenticated=authenticated,
        )
        return self.decode(status, response_headers, payload, result=result, enveloped=enveloped)

    # --- the parts the hand-made layer uses too ---

    def send(
        self,
        method: str,
        template: str,
        *,
        path_params: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, Optional[str]]] = None,
        body: Optional[Mapping[str, Any]] = None,
        body_optional: bool = False,
        authenticated: bool = True,
    ) -> Tuple[int, http.client.HTTPMessage, bytes]:
        """Sends a request with retries and credentials; returns a 2xx answer's status, headers and body."""
        response = self.open(method, template, path_params=path_params, query=query, headers=headers,
                             body=body, body_optional=body_optional, authenticated=authenticated)
        return response.status, response.headers, self._read(response)

    def open(
        self,
        method: str,
        template: str,
        *,
        path_params: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, Optional[str]]] = None,
        body: Optional[Mapping[str, Any]] = None,
        body_optional: bool = False,
        authenticated: bool = True,
        timeout: Union[float, None, Unset] = UNSET,
    ) -> http.client.HTTPResponse:
        """Sends a request and returns the open 2xx response (for streams); raises MCPHubError otherwise.

        `timeout` bounds each wait on the socket: the client's by default, None for no bound.
        """
        if self._closed:
            raise MCPHubError(NETWORK_ERROR, None, 'this client is closed')
        url = self.base_url + expand(template, path_params or {}) + query_string(query or {})
        data = None
        fields = {key: value for key, value in (body or {}).items() if value is not UNSET}
        if body is not None and (fields or not body_optional):
            data = json.dumps(fields).encode('utf-8')
        extra = {name: value for name, value in (headers or {}).items() if value is not None}
        return self._with_credentials(method, url, data, extra, authenticated, self.timeout if isinstance(timeout, Unset) else timeout)

    def decode(self, status: int, headers: http.client.HTTPMessage, payload: bytes, *, result: str, enveloped: bool = True) -> Any:
        """The result of a 2xx answer."""
        if result == 'none' or status == 204:
            return None
        text = payload.decode('utf-8', errors='replace')
        if result == 'text':
            return text
        try:
            document = json.loads(text)
        except ValueError as error:
            raise MCPHubError(INVALID_RESPONSE, status, 'the hub answered with a body that is not JSON') from error
        if not enveloped:
            return document
        if not isinstance(document, dict) or 'data' not in document:
            raise MCPHubError(INVALID_RESPONSE, status, 'the hub answered without the envelope')
        return document['data']

    # --- credentials ---

    def _with_credentials(self, method: str, url: str, data: Optional[bytes], headers: Dict[str, str], authenticated: bool, timeout: Optional[float]) -> http.client.HTTPResponse:
        if not authenticated:
            return self._with_retries(method, url, data, headers, timeout)
        if self._api_key is not None:
            return self._with_retries(method, url, data, {**headers, 'X-API-Key': self._api_key}, timeout)
        if self._session is None:
            auth = {} if self._token is None else {'Authorization': f'Bearer {self._token}'}
            return self._with_retries(method, url, data, {**headers, **auth}, timeout)
        token, generation = self._fresh_token()
        try:
            return self._with_retries(method, url, data, {**headers, 'Authorization': f'Bearer {token}'}, timeout)
        except MCPHubError as error:
            if error.status != 401:
                raise
        # The token was refused (revoked, or expired early): refresh once, shared with other threads.
        token, _ = self._renew(generation)
        return self._with_retries(method, url, data, {**headers, 'Authorization': f'Bearer {token}'}, timeout)

    def _fresh_token(self) -> Tuple[str, int]:
        """The session's access token, signed in or refreshed first when it is missing or about to expire."""
        session = self._session
        assert session is not None
        with self._session_lock:
            token, generation = session.token, session.generation
        if token is not None and time.monotonic() < session.expires_at - self.refresh_margin:
            return token, generation
        return self._renew(generation)

    def _renew(self, seen_generation: int) -> Tuple[str, int]:
        """Refreshes (or signs in) unless another thread did since `seen_generation`; all wait for the one that does.

        Returns the access token and its generation (which counts sign-ins and refreshes).
        """
        session = self._session
        assert session is not None
        with self._session_lock:
            if session.generation != seen_generation and session.token is not None:
                return session.token, session.generation
            pair = None
            if session.refresh_token is not None:
                try:
                    pair = self._post_public('/api/auth/refresh', {'refreshToken': session.refresh_token})
                except MCPHubError as error:
                    if error.status != 401 or self._mfa_code is not None:
                        raise
                    # The session ended (logged out, revoked): sign in again with the password.
            if pair is None:
                fields = {'username': self._username, 'password': self._password}
                if self._mfa_code is not None and session.generation == 0:
                    fields['mfaCode'] = self._mfa_code
                pair = self._post_public('/api/auth/login', fields)
            session.token = pair['token']
            session.refresh_token = pair['refreshToken']
            session.expires_at = time.monotonic() + float(pair['expiresIn'])
            session.generation += 1
            return session.token, session.generation

    def _post_public(self, path: str, fields: Dict[str, Any]) -> Dict[str, Any]:
        response = self._with_retries('POST', self.base_url + path, json.dumps(fields).encode('utf-8'), {}, self.timeout)
        pair: Dict[str, Any] = self.decode(response.status, response.headers, self._read(response), result='json')
        return pair

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        """The whole body of a response, which is closed after."""
        with response:
            try:
                return response.read()
            except (OSError, http.client.HTTPException) as error:
                raise self.network_error(error) from error

    # --- sending, retrying, errors ---

    def _with_retries(self, method: str, url: str, data: Optional[bytes], headers: Dict[str, str], timeout: Optional[float]) -> http.client.HTTPResponse:
        attempt = 0
        while True:
            try:
                return self._send_once(method, url, data, headers, timeout)
            except MCPHubError as error:
                if attempt >= self.max_retries:
                    raise
                if error.code == 'RATE_LIMIT_EXCEEDED' and self.retry_rate_limited:
                    wait = error.retry_after if error.retry_after is not None else 1.0
                    if wait > self.max_retry_after:
                        raise
                elif error.code == NETWORK_ERROR and method in IDEMPOTENT and dropped(error):
                    wait = min(2.0, 0.1 * 2 ** attempt) * (0.5 + random.random())
                else:
                    raise
            attempt += 1
            time.sleep(wait)

    def _send_once(self, method: str, url: str, data: Optional[bytes], headers: Dict[str, str], timeout: Optional[float]) -> http.client.HTTPResponse:
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header('Accept', 'application/json')
        request.add_header('User-Agent', self.user_agent)
        if data is not None:
            request.add_header('Content-Type', 'application/json')
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            response: http.client.HTTPResponse = self._opener.open(request, timeout=timeout)
            return response
        except urllib.error.HTTPError as error:
            with error:
                raise error_from_answer(error.code, error.headers, read_quietly(error)) from None
        except (OSError, http.client.HTTPException) as error:
            raise self.network_error(error) from error

    def network_error(self, error: BaseException) -> MCPHubError:
        reason = getattr(error, 'reason', error)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return MCPHubError(TIMEOUT, None, f'no answer from {self.base_url} within {self.timeout} s')
        return MCPHubError(NETWORK_ERROR, None, f'cannot reach {self.base_url}: {type(reason).__name__}: {reason}')


def dropped(error: MCPHubError) -> bool:
    """Whether the connection dropped before an answer (so the request may be sent again when idempotent)."""
    cause = error.__cause__
    return isinstance(cause, CONNECTION_DROPS) or isinstance(getattr(cause, 'reason', None), CONNECTION_DROPS)


def read_quietly(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b''


#: The contract's code for each status, for error answers without the envelope (a proxy's page).
CODE_OF_STATUS = {
    400: 'INVALID_REQUEST',
    401: 'AUTHENTICATION_FAILED',
    403: 'AUTHORIZATION_FAILED',
    404: 'RESOURCE_NOT_FOUND',
    409: 'RESOURCE_CONFLICT',
    422: 'VALIDATION_ERROR',
    429: 'RATE_LIMIT_EXCEEDED',
}


def error_from_answer(status: int, headers: Any, payload: bytes) -> MCPHubError:
    """The MCPHubError for a non-2xx answer: the envelope's code, message and details."""
    retry_after = retry_after_seconds(headers.get('Retry-After') if headers is not None else None)
    try:
        document = json.loads(payload.decode('utf-8'))
        error = document['error']
        return MCPHubError(str(error['code']), status, str(error.get('message', '')), error.get('details'), retry_after)
    except (ValueError, KeyError, TypeError, AttributeError):
        code = CODE_OF_STATUS.get(status, 'SERVER_ERROR' if status >= 500 else INVALID_RESPONSE)
        return MCPHubError(code, status, f'HTTP {status} without the error envelope', None, retry_after)


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def expand(template: str, values: Mapping[str, str]) -> str:
    """`/api/servers/{serverId}` with each parameter percent-encoded."""
    for name, value in values.items():
        template = template.replace('{' + name + '}', urllib.parse.quote(str(value), safe=''))
    return template


def query_string(query: Mapping[str, Any]) -> str:
    """`?a=1&b=x,y`: None left out, booleans as true/false, lists comma-separated."""
    pairs = []
    for name, value in query.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        elif isinstance(value, (list, tuple)):
            value = ','.join(str(item) for item in value)
        pairs.append((name, str(value)))
    return '' if not pairs else '?' + urllib.parse.urlencode(pairs)


def ndjson_lines(response: http.client.HTTPResponse, on_error: Callable[[BaseException], MCPHubError]) -> Iterator[Any]:
    """Each JSON line of a streamed answer, until the hub ends it; closing the iterator closes the response."""
    try:
        while True:
            try:
                line = response.readline()
            except (OSError, http.client.HTTPException, ValueError) as error:
                raise on_error(error) from error
            if not line:
                return
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as error:
                raise MCPHubError(INVALID_RESPONSE, response.status, 'a line of the stream is not JSON') from error
            yield item
    finally:
        response.close()
