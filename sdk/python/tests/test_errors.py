"""Every error case maps to MCPHubError with the contract's code, and secrets stay out of it."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import unittest
import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple

from mcphub_sdk import MCPHubClient, MCPHubError

from live_hub import ADMIN_USERNAME, LIMITED_URL, URL, admin_client, needs_hub, unique


class FailureAssertions(unittest.TestCase):
    def assertFails(self, code: str, status, call, *args, **kwargs) -> MCPHubError:
        with self.assertRaises(MCPHubError) as caught:
            call(*args, **kwargs)
        self.assertEqual((caught.exception.code, caught.exception.status), (code, status), str(caught.exception))
        self.assertTrue(caught.exception.message)
        return caught.exception


@needs_hub
class ErrorTest(FailureAssertions):
    @classmethod
    def setUpClass(cls) -> None:
        cls.admin = admin_client()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.admin.close()

    def test_not_found(self) -> None:
        self.assertFails('RESOURCE_NOT_FOUND', 404, self.admin.servers.get, str(uuid.uuid4()))

    def test_conflict(self) -> None:
        name = unique('twice')
        self.admin.servers.create(name=name, command='node', enabled=False)
        self.assertFails('RESOURCE_CONFLICT', 409, self.admin.servers.create, name=name, command='node', enabled=False)

    def test_validation(self) -> None:
        error = self.assertFails('VALIDATION_ERROR', 422, self.admin.servers.create, name='', command='node')
        self.assertIsInstance(error.details, dict)
        self.assertFails('VALIDATION_ERROR', 422, self.admin.servers.get, 'not-a-uuid')

    def test_wrong_password(self) -> None:
        wrong = 'not the password at all'
        client = MCPHubClient(URL, username=ADMIN_USERNAME, password=wrong)
        error = self.assertFails('AUTHENTICATION_FAILED', 401, client.servers.list)
        self.assertNotIn(wrong, str(error))
        self.assertNotIn(wrong, repr(error))
        self.assertNotIn(wrong, repr(client))

    def test_no_credentials(self) -> None:
        self.assertFails('AUTHENTICATION_FAILED', 401, MCPHubClient(URL).servers.list)
        self.assertEqual(MCPHubClient(URL).hub.health()['status'], 'ok')

    def test_forbidden_to_a_plain_user(self) -> None:
        username, password = unique('plain'), 'a long enough password 3'
        self.admin.users.create(username=username, password=password, role='user')
        with MCPHubClient(URL, username=username, password=password) as user:
            self.assertFails('AUTHORIZATION_FAILED', 403, user.servers.create, name=unique('nope'), command='node')
            self.assertFails('AUTHORIZATION_FAILED', 403, user.config.get)

    @unittest.skipUnless(LIMITED_URL, 'set MCPHUB_LIMITED_URL to a hub with a low anonymous rate limit')
    def test_rate_limited_without_retries(self) -> None:
        client = MCPHubClient(LIMITED_URL, retry_rate_limited=False)
        for _ in range(10):
            try:
                client.auth.verify()
            except MCPHubError as error:
                if error.code == 'RATE_LIMIT_EXCEEDED':
                    self.assertEqual(error.status, 429)
                    self.assertIsNotNone(error.retry_after)
                    self.assertGreater(error.retry_after, 0)
                    break
                self.assertEqual(error.code, 'AUTHENTICATION_FAILED')
        else:
            self.fail('never rate limited')
        # With retries on, a wait longer than max_retry_after is not waited for either.
        patient = MCPHubClient(LIMITED_URL, max_retry_after=0.01)
        self.assertFails('RATE_LIMIT_EXCEEDED', 429, patient.auth.verify)


class WithoutHubTest(FailureAssertions, unittest.TestCase):
    """What happens on the way: refused and silent ports, dropped connections, 429s (a socket plays the hub)."""

    def test_closed_port_is_a_network_error(self) -> None:
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        password = 'a password that stays secret'
        client = MCPHubClient(f'http://someone:{password}@127.0.0.1:{port}', username='someone', password=password)
        error = self.assertFails('NETWORK_ERROR', None, client.servers.list)
        self.assertIsInstance(error.__cause__, OSError)
        self.assertNotIn(password, str(error))
        self.assertNotIn(password, repr(client))

    def test_no_answer_is_a_timeout(self) -> None:
        with socket.socket() as silent:
            silent.bind(('127.0.0.1', 0))
            silent.listen(1)
            client = MCPHubClient(f'http://127.0.0.1:{silent.getsockname()[1]}', api_key='mcp_not_a_real_key', timeout=0.3, max_retries=0)
            error = self.assertFails('TIMEOUT', None, client.servers.list)
            self.assertNotIn('mcp_not_a_real_key', str(error))

    def test_a_dropped_connection_is_retried_for_idempotent_requests(self) -> None:
        # A port that resets the first connection, then answers like the hub.
        with one_off_server([None, (200, {}, {'success': True, 'data': {'status': 'ok'}})]) as url:
            client = MCPHubClient(url, timeout=5)
            self.assertEqual(client.servers.get(str(uuid.uuid4())), {'status': 'ok'})
        # A POST may have reached the hub: it is not sent again.
        with one_off_server([None]) as url:
            self.assertFails('NETWORK_ERROR', None, MCPHubClient(url, timeout=5).servers.create, name='x', command='node')

    def test_a_429_is_retried_after_retry_after(self) -> None:
        limited = (429, {'Retry-After': '0.2'}, {'success': False, 'error': {'code': 'RATE_LIMIT_EXCEEDED', 'message': 'Too many requests'}})
        answer = (200, {}, {'success': True, 'data': {'status': 'ok'}})
        with one_off_server([limited, answer]) as url:
            started = time.monotonic()
            self.assertEqual(MCPHubClient(url, timeout=5).servers.get(str(uuid.uuid4())), {'status': 'ok'})
            self.assertGreaterEqual(time.monotonic() - started, 0.2)
        with one_off_server([limited, limited, limited]) as url:
            error = self.assertFails('RATE_LIMIT_EXCEEDED', 429, MCPHubClient(url, timeout=5, max_retries=2).servers.get, str(uuid.uuid4()))
            self.assertEqual(error.retry_after, 0.2)


    def test_a_followed_stream_waits_longer_than_the_request_timeout(self) -> None:
        # A hub whose log stream sends one line, stays quiet for longer than the client's
        # timeout, then sends another: the stream waits (timeout=None) or gives up (timeout=0.1).
        line = json.dumps({'time': '2026-01-01T00:00:00.000Z', 'level': 'info', 'source': 'stderr', 'message': 'hello'}).encode() + b'\n'
        for timeout, expected in ((None, ['hello', 'hello']), (0.1, ['hello', 'TIMEOUT'])):
            with socket.socket() as listener:
                listener.bind(('127.0.0.1', 0))
                listener.listen(1)
                done = threading.Event()

                def serve() -> None:
                    connection, _ = listener.accept()
                    with connection:
                        connection.recv(65536)
                        connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n' + line)
                        done.wait(0.5)  # quiet, longer than the client's timeout
                        with contextlib.suppress(OSError):
                            connection.sendall(line)

                thread = threading.Thread(target=serve, daemon=True)
                thread.start()
                client = MCPHubClient(f'http://127.0.0.1:{listener.getsockname()[1]}', api_key='k', timeout=0.2)
                seen = []
                with contextlib.closing(client.servers.follow_logs(str(uuid.uuid4()), timeout=timeout)) as lines:
                    try:
                        for item in lines:
                            seen.append(item['message'])
                            if len(seen) == 2:
                                break
                    except MCPHubError as error:
                        seen.append(error.code)
                done.set()
                thread.join(5)
                self.assertEqual(seen, expected)

@contextlib.contextmanager
def one_off_server(answers: List[Optional[Tuple[int, Dict[str, str], Any]]]) -> Iterator[str]:
    """A port that answers each connection in turn with the next answer (None: a connection reset)."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(len(answers))

    def serve() -> None:
        for answer in answers:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                if answer is None:
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                    continue
                status, headers, document = answer
                body = json.dumps(document).encode()
                head = f'HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n'
                head += ''.join(f'{name}: {value}\r\n' for name, value in headers.items())
                connection.sendall(head.encode() + b'\r\n' + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{listener.getsockname()[1]}'
        thread.join(5)
        assert not thread.is_alive(), 'the client did not make every expected request'
    finally:
        listener.close()

if __name__ == '__main__':
    unittest.main()
