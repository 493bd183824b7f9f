// End to end with `mailstack serve`: access control wired into the real server. The GeoIP import and the ban
// commands go through the admin socket to the running server, which applies them at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServe } from '../helpers/cli.ts';
import { FIXTURE_FILES, connectFrom, greets, instanceWithAccess } from './harness.ts';

test('a running server: geoip import reloads it, the IMAP port refuses other countries, ban add closes open sessions', async () => {
  const { inst, cli } = await instanceWithAccess('exempt_loopback = false\nclient_countries = ["DE"]', '');
  const server = await startServe(['--config', inst.config]);
  try {
    assert.equal((await cli('unlock')).code, 0);
    const status = JSON.parse((await cli('status', '--json')).stdout) as { listening: { name: string; port: number }[] };
    const imap = status.listening.find((l) => l.name === 'imap');
    const smtp = status.listening.find((l) => l.name === 'smtp');
    assert.ok(imap && smtp, JSON.stringify(status.listening));

    // Before an import the country list is not enforced.
    assert.equal(await greets(imap.port, '127.0.0.20'), true);
    const imported = await cli('geoip', 'import', ...FIXTURE_FILES);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /the running server reloaded it: \d+ ranges, 10 countries/);
    assert.equal(await greets(imap.port, '127.0.0.20'), false, 'CN refused on imap');
    assert.equal(await greets(smtp.port, '127.0.0.20'), true, 'CN greeted on port 25');
    const de = await connectFrom(imap.port, '127.0.0.10');
    assert.ok(de.greeted, 'DE greeted on imap');

    const banned = await cli('ban', 'add', '127.0.0.10', '--duration', '10m', '--reason', 'test');
    assert.equal(banned.code, 0, banned.stderr);
    await de.closed; // the server closed the open session at once
    assert.equal(await greets(imap.port, '127.0.0.10'), false);
    assert.match((await cli('ban', 'list')).stdout, /^127\.0\.0\.10 +expires .*: test\n$/);
    assert.equal((await cli('ban', 'del', '127.0.0.10')).code, 0);
    assert.equal(await greets(imap.port, '127.0.0.10'), true);
    assert.match(server.stderr(), /"event":"access-refused"/);
  } finally {
    assert.equal(await server.stop(), 0);
    await inst.cleanup();
  }
});
