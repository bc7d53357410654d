"""The SDK, installed from its package, against a live hub: the issue's bar."""

from __future__ import annotations

import contextlib
import os
import threading
import unittest
from typing import List

import mcphub_sdk
from mcphub_sdk import MCPHubClient, MCPHubError

from live_hub import ADMIN_PASSWORD, ADMIN_USERNAME, FIXTURE, URL, admin_client, mfa_user, needs_hub, unique

HERE = os.path.dirname(os.path.abspath(__file__))


@needs_hub
class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.admin = admin_client()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.admin.close()

    def test_is_the_installed_package(self) -> None:
        source = os.path.dirname(HERE)
        self.assertFalse(os.path.abspath(mcphub_sdk.__file__).startswith(source + os.sep), mcphub_sdk.__file__)
        self.assertRegex(mcphub_sdk.__version__, r'^\d+\.\d+\.\d+')

    def test_signs_in_with_mfa(self) -> None:
        username, password, code = mfa_user(self.admin)
        with MCPHubClient(URL, username=username, password=password, mfa_code=code) as client:
            verification = client.auth.verify()
            self.assertEqual(verification['user']['username'], username)
            self.assertEqual(verification['method'], 'token')
            self.assertTrue(client.auth.mfa_status()['enabled'])
        with self.assertRaises(MCPHubError) as caught:
            MCPHubClient(URL, username=username, password=password).auth.verify()
        self.assertEqual(caught.exception.code, 'AUTHENTICATION_FAILED')

    def test_creates_gets_updates_and_deletes_a_server(self) -> None:
        name = unique('crud')
        server = self.admin.servers.create(name=name, command='node', args=['server.js'], enabled=False, tags=['sdk'])
        self.assertEqual((server['name'], server['args'], server['status']), (name, ['server.js'], 'stopped'))
        self.assertEqual(self.admin.servers.get(server['id'])['id'], server['id'])
        updated = self.admin.servers.update(server['id'], description='from the Python SDK')
        self.assertEqual(updated['description'], 'from the Python SDK')
        listed = self.admin.servers.list(search=name)
        self.assertEqual([s['id'] for s in listed['items']], [server['id']])
        self.assertEqual(listed['pagination']['total'], 1)
        self.assertEqual(self.admin.servers.list(filter={'name': name})['pagination']['total'], 1)
        self.assertIsNone(self.admin.servers.delete(server['id']))
        with self.assertRaises(MCPHubError) as caught:
            self.admin.servers.get(server['id'])
        self.assertEqual((caught.exception.code, caught.exception.status), ('RESOURCE_NOT_FOUND', 404))

    def test_iterates_150_servers_across_pages(self) -> None:
        prefix = unique('bulk')

        def create(start: int) -> None:
            for i in range(start, 150, 5):
                self.admin.servers.create(name=f'{prefix}-{i:03d}', command='node', enabled=False)

        threads = [threading.Thread(target=create, args=(start,)) for start in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        first = self.admin.servers.list(search=prefix, limit=20)
        self.assertEqual(len(first['items']), 20)
        self.assertEqual((first['pagination']['total'], first['pagination']['pages'], first['pagination']['hasNext']), (150, 8, True))
        ids = [server['id'] for server in self.admin.servers.iterate(search=prefix, limit=20, sort='name')]
        self.assertEqual(len(ids), 150)
        self.assertEqual(len(set(ids)), 150)
        names = [server['name'] for server in self.admin.servers.iterate(search=prefix, limit=20, sort='name')]
        self.assertEqual(names, [f'{prefix}-{i:03d}' for i in range(150)])

    def test_starts_follows_and_stops_a_real_server(self) -> None:
        server = self.admin.servers.create(name=unique('fixture'), command=FIXTURE['command'], args=FIXTURE['args'], enabled=False)
        started = self.admin.servers.start(server['id'])
        self.assertEqual(started['status'], 'running')
        self.assertIsNotNone(started['pid'])
        lines = self.admin.servers.follow_logs(server['id'], level='debug', timeout=30)
        with contextlib.closing(lines):
            line = next(lines)
        self.assertIn(line['source'], ('stderr', 'mcp', 'supervisor'))
        self.assertIsInstance(line['message'], str)
        self.assertIsInstance(self.admin.servers.logs(server['id'], limit=10), list)
        tools = self.admin.servers.tools(server['id'])
        self.assertIn('tools', tools)
        stopped = self.admin.servers.stop(server['id'], graceful=True, timeout=5000)
        self.assertEqual(stopped['status'], 'stopped')
        self.admin.servers.delete(server['id'])

    def test_creates_an_api_key_and_uses_it(self) -> None:
        created = self.admin.auth.create_api_key(name=unique('key'))
        self.assertTrue(created['key'])
        with MCPHubClient(URL, api_key=created['key']) as client:
            self.assertNotIn(created['key'], repr(client))
            verification = client.auth.verify()
            self.assertEqual((verification['method'], verification['user']['username']), ('apiKey', ADMIN_USERNAME))
            self.assertIn('items', client.servers.list(limit=1))
            self.admin.auth.revoke_api_key(created['id'])
            with self.assertRaises(MCPHubError) as caught:
                client.servers.list()
            self.assertEqual(caught.exception.code, 'AUTHENTICATION_FAILED')
            self.assertNotIn(created['key'], str(caught.exception))

    def test_reads_monitoring_status_and_metrics(self) -> None:
        status = self.admin.monitoring.status()
        self.assertIn('system', status)
        self.assertIn('servers', status)
        metrics = self.admin.monitoring.metrics(time_range='1h', metrics=['requests', 'errors'])
        self.assertEqual(metrics['timeRange'], '1h')
        self.assertLessEqual({series['name'] for series in metrics['series']}, {'errors', 'requests'})
        self.assertIn('# TYPE', self.admin.monitoring.prometheus())

    def test_updates_config_with_if_match(self) -> None:
        config, etag = self.admin.config.get_with_etag()
        self.assertRegex(etag, r'^"\d+"$')
        alerts = dict(config['alerts'], repeatIntervalMinutes=config['alerts']['repeatIntervalMinutes'] % 100 + 7)
        updated = self.admin.config.update(if_match=etag, alerts=alerts)
        self.assertEqual(updated['alerts']['repeatIntervalMinutes'], alerts['repeatIntervalMinutes'])
        with self.assertRaises(MCPHubError) as caught:
            self.admin.config.update(if_match=etag, alerts=config['alerts'])
        self.assertEqual((caught.exception.code, caught.exception.status), ('RESOURCE_CONFLICT', 409))
        current, current_etag = self.admin.config.get_with_etag()
        self.assertNotEqual(current_etag, etag)
        restored, restored_etag = self.admin.config.update_with_etag(current_etag, alerts=config['alerts'])
        self.assertEqual(restored['alerts'], config['alerts'])
        self.assertNotEqual(restored_etag, current_etag)
        self.assertEqual(self.admin.config.get_with_etag()[1], restored_etag)

    def test_threads_share_the_token_refresh(self) -> None:
        # With MFA the client cannot sign in again: a refresh token spent twice (which revokes
        # the session) would fail the requests. A margin longer than the token's life makes
        # every request find the token about to expire.
        username, password, code = mfa_user(self.admin)
        client = MCPHubClient(URL, username=username, password=password, mfa_code=code, refresh_margin=10 ** 6)
        client.auth.verify()
        failures: List[BaseException] = []
        seen: List[str] = []
        start = threading.Barrier(8)

        def work() -> None:
            start.wait()
            try:
                for _ in range(3):
                    seen.append(client.auth.verify()['user']['username'])
            except Exception as error:  # noqa: BLE001 (reported below)
                failures.append(error)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(failures, [])
        self.assertEqual(seen, [username] * 24)
        self.assertEqual(client.auth.verify()['user']['username'], username)
        client.close()

    def test_a_refused_token_is_renewed_once(self) -> None:
        client = admin_client()
        self.assertEqual(client.auth.verify()['user']['username'], ADMIN_USERNAME)
        client.auth.logout()  # the session's tokens stop working; the client still holds them
        self.assertEqual(client.auth.verify()['user']['username'], ADMIN_USERNAME)
        client.close()

    def test_imports_and_exports(self) -> None:
        name = unique('imported')
        result = self.admin.servers.import_(mcp_servers={name: {'command': 'node', 'args': ['x.js'], 'disabled': True}})
        self.assertEqual(result['created'], [name])
        exported = self.admin.servers.export()
        self.assertIn(name, exported['mcpServers'])

    def test_groups_and_members(self) -> None:
        group = self.admin.groups.create(name=unique('group'))
        user = self.admin.users.create(username=unique('member'), password='a long enough password 2')
        self.admin.groups.add_member(group['id'], user_id=user['id'])
        member = self.admin.groups.update_member(group['id'], user['id'], role='admin')
        self.assertEqual(member['role'], 'admin')
        self.assertEqual([m['userId'] for m in self.admin.groups.iterate_members(group['id'])], [user['id']])
        self.assertIsNone(self.admin.groups.remove_member(group['id'], user['id']))
        self.admin.groups.delete(group['id'])
        self.admin.users.delete(user['id'])

    def test_signs_in_with_a_token_pair(self) -> None:
        anonymous = MCPHubClient(URL)
        pair = anonymous.auth.login(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
        self.assertGreater(pair['expiresIn'], 0)
        with MCPHubClient(URL, token=pair['token']) as client:
            self.assertEqual(client.auth.verify()['user']['username'], ADMIN_USERNAME)
            self.assertNotIn(pair['token'], repr(client))
        renewed = anonymous.auth.refresh(refresh_token=pair['refreshToken'])
        self.assertNotEqual(renewed['refreshToken'], pair['refreshToken'])
        self.assertEqual(MCPHubClient(URL, token=renewed['token']).auth.verify()['user']['username'], ADMIN_USERNAME)

    def test_repr_hides_secrets(self) -> None:
        client = MCPHubClient(URL, username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
        client.auth.verify()
        for text in (repr(client), repr(client._transport), repr(client._transport._session)):
            self.assertNotIn(ADMIN_PASSWORD, text)
            self.assertNotIn(client._transport._session.token, text)
        client.close()


if __name__ == '__main__':
    unittest.main()
