"""Every error case maps to MCPHubError with the contract's code, and secrets stay out of it."""

from __future__ import annotations

import socket
import struct
import threading
import unittest
import uuid

from mcphub_sdk import MCPHubClient, MCPHubError

from hub import ADMIN_PASSWORD, ADMIN_USERNAME, LIMITED_URL, URL, admin_client, needs_hub, unique


@needs_hub
class ErrorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.admin = admin_client()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.admin.close()

    def assertFails(self, code: str, status, call, *args, **kwargs) -> MCPHubError:
        with self.assertRaises(MCPHubError) as caught:
            call(*args, **kwargs)
        self.assertEqual((caught.exception.code, caught.exception.status), (code, status), str(caught.exception))
        self.assertTrue(caught.exception.message)
        return caught.exception

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

    def test_closed_port_is_a_network_error(self) -> None:
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        client = MCPHubClient(f'http://127.0.0.1:{port}', username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
        error = self.assertFails('NETWORK_ERROR', None, client.servers.list)
        self.assertIsNotNone(error.__cause__)
        self.assertNotIn(ADMIN_PASSWORD, str(error))

    def test_no_answer_is_a_timeout(self) -> None:
        with socket.socket() as silent:
            silent.bind(('127.0.0.1', 0))
            silent.listen(1)
            client = MCPHubClient(f'http://127.0.0.1:{silent.getsockname()[1]}', api_key='mcp_not_a_real_key', timeout=0.3, max_retries=0)
            error = self.assertFails('TIMEOUT', None, client.servers.list)
            self.assertNotIn('mcp_not_a_real_key', str(error))

    def test_a_dropped_connection_is_retried_for_idempotent_requests(self) -> None:
        # A port that resets the first connection, then answers like the hub.
        answered = []
        with socket.socket() as listener:
            listener.bind(('127.0.0.1', 0))
            listener.listen(2)

            def serve() -> None:
                first, _ = listener.accept()
                first.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                first.recv(65536)
                first.close()  # RST
                second, _ = listener.accept()
                with second:
                    second.recv(65536)
                    body = b'{"success":true,"data":{"status":"ok"},"timestamp":"2026-01-01T00:00:00.000Z"}'
                    second.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ' + str(len(body)).encode() + b'\r\nConnection: close\r\n\r\n' + body)
                    answered.append(True)

            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            client = MCPHubClient(f'http://127.0.0.1:{listener.getsockname()[1]}', timeout=5)
            self.assertEqual(client.servers.get(str(uuid.uuid4())), {'status': 'ok'})
            thread.join(5)
        self.assertEqual(answered, [True])


if __name__ == '__main__':
    unittest.main()
