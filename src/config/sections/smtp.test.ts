import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../index.ts';

const base = '[server]\ndata_dir = "/tmp/x"\n';

test('[smtp] defaults: Postfix-like restrictions on, reverse-DNS check off, checks on', () => {
  const c = parseConfig(base, '/tmp/mailstack.toml');
  assert.equal(c.smtp.helo_required, true);
  assert.equal(c.smtp.reject_unknown_sender_domain, true);
  assert.equal(c.smtp.reject_unknown_reverse_client, false);
  assert.equal(c.smtp.auth_checks, true);
  assert.equal(c.smtp.dmarc_reject, true);
  assert.equal(c.smtp.max_recipients, 100);
  assert.equal(c.lmtp.max_recipients, 1000);
  assert.equal(c.submission.max_auth_failures, 3);
});

test('[smtp] unknown keys, wrong types and helo_required = false are refused with the key named', () => {
  assert.throws(() => parseConfig(base + '[smtp]\nreject_everything = true\n', '/tmp/m.toml'), /smtp\.reject_everything/);
  assert.throws(() => parseConfig(base + '[smtp]\nmax_recipients = "many"\n', '/tmp/m.toml'), /smtp\.max_recipients/);
  assert.throws(() => parseConfig(base + '[smtp]\nhelo_required = false\n', '/tmp/m.toml'), /helo_required/);
});
