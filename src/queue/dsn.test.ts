import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { buildDsn } from './dsn.ts';
import { retryDelayMs } from './runner.ts';
import { isInternalAddress } from './route.ts';
import { enhancedStatus, fromReply } from './status.ts';

const ORIGINAL = Buffer.from('From: a@local.test\r\nTo: b@remote.test\r\nSubject: Hello\r\n\r\nsecret body text\r\n');

test('a bounce is a well-formed RFC 3464 report with the original headers only', async () => {
  const dsn = buildDsn({
    hostname: 'mx.local.test',
    queueId: 'ABC123',
    sender: 'a@local.test',
    arrivalDate: Date.UTC(2026, 10, 24, 10),
    recipients: [{ address: 'b@remote.test', action: 'failed', status: '5.1.1', diagnostic: 'smtp; 550 5.1.1 unknown\r\n user', remoteMta: 'mx.remote.test' }],
    original: ORIGINAL,
    now: Date.UTC(2026, 10, 24, 11),
  });
  const text = dsn.toString();
  assert.doesNotMatch(text, /(^|[^\r])\n/, 'CRLF line endings only');
  assert.doesNotMatch(text, /secret body text/, 'the body is not returned');
  const parsed = await simpleParser(dsn);
  assert.equal(parsed.headers.get('content-type') && (parsed.headers.get('content-type') as { value: string }).value, 'multipart/report');
  assert.equal(parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : '', 'a@local.test');
  assert.match(text, /Reporting-MTA: dns; mx\.local\.test\r\nX-Mailstack-Queue-ID: ABC123\r\nArrival-Date: Tue, 24 Nov 2026 10:00:00 \+0000/);
  assert.match(text, /Diagnostic-Code: smtp; 550 5\.1\.1 unknown user\r\n/, 'a multi-line reply is flattened to one line');
  assert.match(text, /Content-Type: text\/rfc822-headers[\s\S]*Subject: Hello/);
});

test('backoff doubles from the minimum up to the maximum', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, 300_000, 4_000_000)), [300_000, 600_000, 1_200_000, 2_400_000, 4_000_000, 4_000_000]);
  assert.equal(retryDelayMs(1000, 1, 10), 10, 'no overflow for large attempt counts');
});

test('internal addresses are recognised', () => {
  for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.0.1', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1']) {
    assert.equal(isInternalAddress(ip), true, ip);
  }
  for (const ip of ['192.0.2.1', '172.32.0.1', '8.8.8.8', '2001:db8::1', '100.128.0.1']) assert.equal(isInternalAddress(ip), false, ip);
});

test('SMTP replies map to outcomes and enhanced status codes', () => {
  assert.equal(enhancedStatus('550 5.7.1 spam', 550), '5.7.1');
  assert.equal(enhancedStatus('550 no thanks', 550), '5.0.0');
  assert.equal(enhancedStatus('421 busy', 421), '4.0.0');
  assert.equal(fromReply('a@b', 'mx', 250, '250 ok').outcome, 'delivered');
  assert.equal(fromReply('a@b', 'mx', 452, '452 4.2.2 full').outcome, 'deferred');
  assert.equal(fromReply('a@b', 'mx', 554, '554 5.7.1 no').outcome, 'failed');
  assert.equal(fromReply('a@b', 'mx', 503, '503 5.5.1 bad sequence').outcome, 'deferred', 'a 503 says nothing about the recipient');
});
