// Recipient resolution, login and the sender check, against the real embedded store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openStore, type Store, type User } from '../../src/store/index.ts';
import { authenticate, hashPassword, isLocalDomain, maySendAs, resolveRecipient, verifyPassword, DUMMY_PASSWORD_HASH, MAX_ALIAS_DEPTH, MAX_ALIAS_EXPANSION, type Resolution } from '../../src/accounts/index.ts';

let dir: string;
let store: Store;
const users: Record<string, User> = {};
const DOVECOT_BCRYPT = '{BLF-CRYPT}$2y$05$xAD8.lN92nWc8WRmemxC1O3KCjL/G4mfmB41.SKVKEYMxCzJoS8IC'; // "correct horse"
/** Every hash the real Dovecot made of "correct horse" (test/fixtures/dovecot/passwords.tsv): cost-4 and
 * cost-5 bcrypt, SHA-crypt with default and explicit rounds, each 30-100x cheaper than the cost-12 dummy. */
const DOVECOT_HASHES = readFileSync(fileURLToPath(new URL('../fixtures/dovecot/passwords.tsv', import.meta.url)), 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('correct horse\t'))
  .map((l) => l.split('\t')[1]!);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailstack-accounts-'));
  store = await openStore({ dir, key: randomBytes(32) });
  const a = store.accounts;
  for (const d of ['example.org', 'example.net', 'bücher.example']) await a.addDomain(d);
  const hash = await hashPassword('pw');
  for (const addr of ['admin@example.org', 'backups@example.org', 'user@example.net', 'accounts@example.net', 'anna@bücher.example', 'bob@example.org', 'carol@example.org']) {
    users[addr] = await a.addUser({ address: addr, passwordHash: hash });
  }
  users['old@example.org'] = await a.addUser({ address: 'old@example.org', passwordHash: DOVECOT_BCRYPT });
  // The reference article's virtual map, plus the cases it does not show.
  await a.addAlias('postmaster@example.org', 'admin@example.org');
  await a.addAlias('abuse@example.org', 'admin@example.org');
  await a.addAlias('github@example.net', 'accounts@example.net');
  await a.addAlias('team@example.org', 'bob@example.org');
  await a.addAlias('team@example.org', 'carol@example.org');
  await a.addAlias('team@example.org', 'admin@example.org');
  await a.addAlias('everyone@example.org', 'team@example.org'); // nested
  await a.addAlias('everyone@example.org', 'bob@example.org'); // dedup with team's bob
  await a.addAlias('@example.net', 'accounts@example.net'); // catch-all
  await a.addAlias('loop1@example.org', 'loop2@example.org');
  await a.addAlias('loop2@example.org', 'loop1@example.org');
  await a.addAlias('keepcopy@example.org', 'carol@example.org');
  await a.addAlias('carol@example.org', 'carol@example.org'); // alias to itself plus a forward
  await a.addAlias('carol@example.org', 'carol.elsewhere@remote.test');
  await a.addAlias('bob+lists@example.org', 'admin@example.org'); // exact alias beats +tag stripping
  await a.addAlias('sales@example.org', 'nobody@example.org'); // dangling
});

after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function ids(r: Resolution): number[] {
  assert.equal(r.status, 'local');
  return r.status === 'local' ? r.users.map((u) => u.userId).sort((x, y) => x - y) : [];
}
const id = (a: string) => users[a]!.id;

test('a user resolves to itself, whatever the case of the address', async () => {
  assert.deepEqual(ids(await resolveRecipient(store, 'Admin@EXAMPLE.org')), [id('admin@example.org')]);
});

test('one-to-one aliases (postmaster -> admin)', async () => {
  assert.deepEqual(ids(await resolveRecipient(store, 'postmaster@example.org')), [id('admin@example.org')]);
  assert.deepEqual(ids(await resolveRecipient(store, 'github@example.net')), [id('accounts@example.net')]);
});

test('one-to-many and nested aliases expand, each user once', async () => {
  const want = [id('admin@example.org'), id('bob@example.org'), id('carol@example.org')].sort((x, y) => x - y);
  assert.deepEqual(ids(await resolveRecipient(store, 'team@example.org')), want);
  assert.deepEqual(ids(await resolveRecipient(store, 'everyone@example.org')), want);
});

test('user+tag reaches user, and the tag is kept in the address', async () => {
  const r = await resolveRecipient(store, 'bob+news@example.org');
  assert.deepEqual(r, { status: 'local', users: [{ userId: id('bob@example.org'), address: 'bob+news@example.org' }], forwards: [] });
  assert.deepEqual(ids(await resolveRecipient(store, 'postmaster+x@example.org')), [id('admin@example.org')]);
});

test('an exact alias wins over +tag stripping', async () => {
  assert.deepEqual(ids(await resolveRecipient(store, 'bob+lists@example.org')), [id('admin@example.org')]);
});

test('catch-all takes unknown addresses of its domain, but never an existing user', async () => {
  assert.deepEqual(ids(await resolveRecipient(store, 'random-shop@example.net')), [id('accounts@example.net')]);
  assert.deepEqual(ids(await resolveRecipient(store, 'user@example.net')), [id('user@example.net')]);
  assert.deepEqual(ids(await resolveRecipient(store, 'user+tag@example.net')), [id('user@example.net')]);
});

test('unknown address of a local domain without catch-all is unknown; other domains are remote', async () => {
  assert.deepEqual(await resolveRecipient(store, 'nobody@example.org'), { status: 'unknown' });
  assert.deepEqual(await resolveRecipient(store, 'someone@gmail.test'), { status: 'remote' });
  assert.deepEqual(await resolveRecipient(store, 'not an address'), { status: 'unknown' });
  assert.deepEqual(await resolveRecipient(store, 'sales@example.org'), { status: 'unknown' });
});

test('alias loops are cut, not followed forever', async () => {
  assert.deepEqual(await resolveRecipient(store, 'loop1@example.org'), { status: 'unknown' });
});

test('an expansion over MAX_ALIAS_EXPANSION targets is an expansion_error, not a silently shortened list', async () => {
  // Two nested lists, so that the count covers nested targets too: half + half = exactly the limit.
  const half = MAX_ALIAS_EXPANSION / 2;
  for (let i = 0; i < half - 1; i++) await store.accounts.addAlias('half1@example.org', `m${i}@remote.test`);
  for (let i = half - 1; i < MAX_ALIAS_EXPANSION - 3; i++) await store.accounts.addAlias('half2@example.org', `m${i}@remote.test`);
  for (const list of ['half1@example.org', 'half2@example.org']) await store.accounts.addAlias('at-limit@example.org', list);
  await store.accounts.addAlias('at-limit@example.org', 'admin@example.org');
  const atLimit = await resolveRecipient(store, 'at-limit@example.org');
  assert.equal(atLimit.status, 'local');
  assert.equal(atLimit.status === 'local' && atLimit.forwards.length, MAX_ALIAS_EXPANSION - 3);
  assert.deepEqual(ids(atLimit), [id('admin@example.org')]);

  for (const target of ['at-limit@example.org', 'one-more@remote.test']) await store.accounts.addAlias('over-limit@example.org', target);
  const over = await resolveRecipient(store, 'over-limit@example.org');
  assert.equal(over.status, 'expansion_error');
  assert.match(over.status === 'expansion_error' ? over.detail : '', new RegExp(`over-limit@example\\.org expand to more than ${MAX_ALIAS_EXPANSION} addresses`));
});

test('an alias chain deeper than MAX_ALIAS_DEPTH is an expansion_error; one at the limit resolves', async () => {
  const chain = async (name: string, links: number) => {
    for (let i = 0; i < links - 1; i++) await store.accounts.addAlias(`${name}${i}@example.org`, `${name}${i + 1}@example.org`);
    await store.accounts.addAlias(`${name}${links - 1}@example.org`, 'bob@example.org');
  };
  await chain('deep', MAX_ALIAS_DEPTH);
  assert.deepEqual(ids(await resolveRecipient(store, 'deep0@example.org')), [id('bob@example.org')]);
  await chain('deeper', MAX_ALIAS_DEPTH + 1);
  const r = await resolveRecipient(store, 'deeper0@example.org');
  assert.equal(r.status, 'expansion_error');
  assert.match(r.status === 'expansion_error' ? r.detail : '', new RegExp(`nest deeper than ${MAX_ALIAS_DEPTH} levels`));
});

test('an alias to itself keeps the local copy and forwards elsewhere', async () => {
  const r = await resolveRecipient(store, 'carol@example.org');
  assert.deepEqual(r, { status: 'local', users: [{ userId: id('carol@example.org'), address: 'carol@example.org' }], forwards: ['carol.elsewhere@remote.test'] });
  assert.deepEqual(ids(await resolveRecipient(store, 'keepcopy@example.org')), [id('carol@example.org')]);
});

test('IDN domains match in UTF-8 and in punycode', async () => {
  assert.deepEqual(ids(await resolveRecipient(store, 'anna@xn--bcher-kva.example')), [id('anna@bücher.example')]);
  assert.equal(await isLocalDomain(store, 'XN--BCHER-KVA.example'), true);
  assert.equal(await isLocalDomain(store, 'Example.NET'), true);
  assert.equal(await isLocalDomain(store, 'example.com'), false);
  assert.equal(await isLocalDomain(store, 'bad domain'), false);
});

test('authenticate: right password, wrong password, unknown user', async () => {
  assert.equal((await authenticate(store, 'Admin@Example.org', 'pw'))?.id, id('admin@example.org'));
  assert.equal(await authenticate(store, 'admin@example.org', 'wrong'), null);
  assert.equal(await authenticate(store, 'ghost@example.org', 'pw'), null);
  assert.equal(await authenticate(store, '', 'pw'), null);
});

test('authenticate runs a bcrypt comparison of the same cost for an unknown user', async () => {
  const calls: string[] = [];
  const verify = async (stored: string, pw: string) => {
    calls.push(stored);
    return verifyPassword(stored, pw);
  };
  assert.equal(await authenticate(store, 'ghost@example.org', 'pw', { verify }), null);
  assert.equal(await authenticate(store, 'not an address', 'pw', { verify }), null);
  await store.accounts.addUser({ address: 'locked@example.org', passwordHash: '!' });
  assert.equal(await authenticate(store, 'locked@example.org', 'pw', { verify }), null);
  assert.deepEqual(calls, [DUMMY_PASSWORD_HASH, DUMMY_PASSWORD_HASH, DUMMY_PASSWORD_HASH], 'unknown, invalid and locked logins all run the dummy bcrypt');
  calls.length = 0;
  assert.equal(await authenticate(store, 'admin@example.org', 'wrong', { verify }), null);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.slice(0, 7), DUMMY_PASSWORD_HASH.slice(0, 7), 'same scheme and cost');
});

/** Adds a user holding an imported Dovecot hash, as `mailstack import` leaves it before the first login. */
let importedCount = 0;
async function importedUser(stored: string): Promise<string> {
  const address = `imported${++importedCount}@example.org`;
  await store.accounts.addUser({ address, passwordHash: stored });
  return address;
}

test('a wrong password for an imported Dovecot hash runs the cost-12 dummy comparison, as an unknown login does', async () => {
  assert.equal(DOVECOT_HASHES.length, 7);
  const calls: string[] = [];
  const verify = async (stored: string) => {
    calls.push(stored);
    return false;
  };
  assert.equal(await authenticate(store, 'ghost@example.org', 'wrong', { verify }), null);
  assert.deepEqual(calls, [DUMMY_PASSWORD_HASH]);
  for (const stored of DOVECOT_HASHES) {
    calls.length = 0;
    assert.equal(await authenticate(store, await importedUser(stored), 'wrong', { verify }), null);
    assert.deepEqual(calls.sort(), [stored, DUMMY_PASSWORD_HASH].sort(), `${stored}: its own check and the dummy's`);
  }
});

test('the dummy comparison runs alongside an imported hash\'s check, not after it', async () => {
  const events: string[] = [];
  const verify = async (stored: string) => {
    const name = stored === DUMMY_PASSWORD_HASH ? 'dummy' : 'imported';
    events.push(`${name} started`);
    await new Promise((resolve) => setImmediate(resolve));
    events.push(`${name} done`);
    return false;
  };
  const address = await importedUser(DOVECOT_HASHES.find((h) => h.startsWith('{SHA512-CRYPT}'))!);
  assert.equal(await authenticate(store, address, 'wrong', { verify }), null);
  // Both are under way before either ends, so the answer waits for the dummy only, not for the sum.
  assert.deepEqual(events.slice(0, 2).sort(), ['dummy started', 'imported started']);
});

test('a wrong password for an imported SHA512-CRYPT hash takes as long as an unknown login (medians of real checks)', async () => {
  const imported = await importedUser(DOVECOT_HASHES.find((h) => h.startsWith('{SHA512-CRYPT}$6$') && !h.includes('rounds='))!);
  const timeMs = async (login: string) => {
    const started = performance.now();
    assert.equal(await authenticate(store, login, 'wrong'), null);
    return performance.now() - started;
  };
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  await timeMs(imported); // starts the SHA-crypt thread, not part of what is compared
  const importedMs: number[] = [];
  const unknownMs: number[] = [];
  // Interleaved, so that a busy moment of the machine falls on both.
  for (let i = 0; i < 5; i++) {
    importedMs.push(await timeMs(imported));
    unknownMs.push(await timeMs('ghost@example.org'));
  }
  const ratio = median(unknownMs) / median(importedMs);
  // Without the dummy beside it the imported check is 15-100x faster; a generous 2x either way for noise.
  assert.ok(ratio > 0.5 && ratio < 2, `unknown ${median(unknownMs).toFixed(1)} ms vs imported ${median(importedMs).toFixed(1)} ms`);
});

test('SHA-crypt hashes from Dovecot log in and are upgraded to bcrypt cost 12', async () => {
  for (const stored of DOVECOT_HASHES.filter((h) => /^\{SHA(256|512)-CRYPT\}\$[56]\$(?!rounds=)/.test(h))) {
    const address = await importedUser(stored);
    const u = await authenticate(store, address, 'correct horse');
    assert.ok(u, stored);
    assert.match((await store.accounts.getUser(address))!.passwordHash, /^\$2b\$12\$/);
    assert.ok(await authenticate(store, address, 'correct horse'), 'the new hash works');
  }
});

test('a Dovecot hash logs in and is upgraded to bcrypt cost 12', async () => {
  const u = await authenticate(store, 'old@example.org', 'correct horse');
  assert.ok(u);
  assert.match(u.passwordHash, /^\$2b\$12\$/);
  assert.match((await store.accounts.getUser('old@example.org'))!.passwordHash, /^\$2b\$12\$/);
  assert.ok(await authenticate(store, 'old@example.org', 'correct horse'));
});

test('maySendAs: own address, +tag, aliases that reach the user, catch-all, sendAs; not others', async () => {
  const admin = users['admin@example.org']!;
  assert.equal(await maySendAs(store, admin, 'admin@example.org'), true);
  assert.equal(await maySendAs(store, admin, 'ADMIN+x@example.org'), true);
  assert.equal(await maySendAs(store, admin, 'postmaster@example.org'), true);
  assert.equal(await maySendAs(store, admin, 'team@example.org'), true);
  assert.equal(await maySendAs(store, admin, 'bob@example.org'), false);
  assert.equal(await maySendAs(store, admin, 'github@example.net'), false);
  assert.equal(await maySendAs(store, admin, 'someone@gmail.test'), false);
  assert.equal(await maySendAs(store, admin, 'garbage'), false);
  const accounts = users['accounts@example.net']!;
  assert.equal(await maySendAs(store, accounts, 'github@example.net'), true);
  assert.equal(await maySendAs(store, accounts, 'anything-at-all@example.net'), true, 'catch-all goes to them');
  assert.equal(await maySendAs(store, accounts, 'user@example.net'), false, 'an existing user is not the catch-all');
  const bob = await store.accounts.updateUser('bob@example.org', { sendAs: ['bob@remote.test', '@lists.example.org'] });
  assert.equal(await maySendAs(store, bob, 'Bob@Remote.test'), true);
  assert.equal(await maySendAs(store, bob, 'x@lists.example.org'), true);
  assert.equal(await maySendAs(store, bob, 'x@example.com'), false);
  const free = await store.accounts.updateUser('backups@example.org', { enforceSender: false });
  assert.equal(await maySendAs(store, free, 'x@example.com'), true);
});
