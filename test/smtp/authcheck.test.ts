// SPF, DKIM and DMARC on inbound mail, answered by the test DNS server, visible in Authentication-Results;
// DMARC p=reject refused in the dialogue, p=quarantine filed into Junk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth';
import { SmtpClient } from './client.ts';
import { HOSTNAME, message, withSmtpHarness, type SmtpHarness } from './harness.ts';

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privatePem = signingKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const dkimRecord = (key: typeof signingKey) => `v=DKIM1; k=rsa; p=${key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

async function sign(raw: string): Promise<string> {
  const signer = { signingDomain: 'sender.test', selector: 'sel', privateKey: privatePem, algorithm: 'rsa-sha256', canonicalization: 'relaxed/relaxed' };
  // mailauth signs with signatureData; its type also wants the top-level fields (LIBRARIES.md).
  const result = await dkimSign(raw, { ...signer, signatureData: [signer] } as Parameters<typeof dkimSign>[1]);
  assert.match(result.signatures, /^DKIM-Signature:/);
  return result.signatures + raw;
}

const withHarness = withSmtpHarness;

/** Sends one message from someone@sender.test to alice; returns the DATA reply. */
async function send(h: SmtpHarness, raw: string) {
  const c = await SmtpClient.connect(h.mx);
  await c.reply();
  await c.send('EHLO mx.sender.test');
  assert.equal((await c.send('MAIL FROM:<someone@sender.test>')).code, 250);
  assert.equal((await c.send('RCPT TO:<alice@example.org>')).code, 250);
  const r = await c.data(raw);
  await c.quit();
  return r;
}

function authResults(raw: Buffer): string {
  const text = raw.toString();
  const m = new RegExp(`Authentication-Results: ${HOSTNAME.replace(/\./g, '\\.')};([\\s\\S]*?)\\r\\n(?![ \\t])`).exec(text);
  assert.ok(m, 'our Authentication-Results field is present');
  return m[1]!.replace(/\r\n[ \t]+/g, ' ');
}

test('SPF pass, DKIM pass, DMARC pass are recorded', async () => {
  await withHarness(
    {
      zone: {
        'sender.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'], MX: [{ exchange: 'mx.sender.test', priority: 10 }] },
        'sel._domainkey.sender.test': { TXT: [dkimRecord(signingKey)] },
        '_dmarc.sender.test': { TXT: ['v=DMARC1; p=reject'] },
      },
    },
    async (h) => {
      const r = await send(h, await sign(message()));
      assert.equal(r.code, 250, r.text);
      const ar = authResults((await h.messages('alice@example.org'))[0]!);
      assert.match(ar, /spf=pass/);
      assert.match(ar, /dkim=pass[^;]*header\.i=@sender\.test/);
      assert.match(ar, /dmarc=pass/);
    },
  );
});

test('SPF fail and DKIM fail (wrong key) without DMARC: recorded, delivered to INBOX', async () => {
  await withHarness(
    {
      zone: {
        'sender.test': { TXT: ['v=spf1 ip4:192.0.2.99 -all'], MX: [{ exchange: 'mx.sender.test', priority: 10 }] },
        'sel._domainkey.sender.test': { TXT: [dkimRecord(otherKey)] },
      },
    },
    async (h) => {
      assert.equal((await send(h, await sign(message()))).code, 250);
      const ar = authResults((await h.messages('alice@example.org'))[0]!);
      assert.match(ar, /spf=fail/);
      assert.match(ar, /dkim=(fail|neutral)/);
      assert.match(ar, /dmarc=none/);
    },
  );
});

test('no SPF, no DKIM, no DMARC: none everywhere', async () => {
  await withHarness({}, async (h) => {
    assert.equal((await send(h, message())).code, 250);
    const ar = authResults((await h.messages('alice@example.org'))[0]!);
    assert.match(ar, /spf=none/);
    assert.match(ar, /dkim=none/);
    assert.match(ar, /dmarc=none/);
  });
});

test('DMARC p=reject passes on an aligned DKIM signature alone, even with SPF failing', async () => {
  await withHarness(
    {
      zone: {
        'sender.test': { TXT: ['v=spf1 ip4:192.0.2.99 -all'], MX: [{ exchange: 'mx.sender.test', priority: 10 }] },
        'sel._domainkey.sender.test': { TXT: [dkimRecord(signingKey)] },
        '_dmarc.sender.test': { TXT: ['v=DMARC1; p=reject'] },
      },
    },
    async (h) => {
      assert.equal((await send(h, await sign(message()))).code, 250);
      const ar = authResults((await h.messages('alice@example.org'))[0]!);
      assert.match(ar, /spf=fail/);
      assert.match(ar, /dmarc=pass/);
    },
  );
});

const failingDmarc = (policy: string) => ({
  'sender.test': { TXT: ['v=spf1 ip4:192.0.2.99 -all'], MX: [{ exchange: 'mx.sender.test', priority: 10 }] },
  '_dmarc.sender.test': { TXT: [`v=DMARC1; p=${policy}`] },
});

test('DMARC p=reject and failing: 550 5.7.1 in the dialogue, nothing stored', async () => {
  await withHarness({ zone: failingDmarc('reject') }, async (h) => {
    const r = await send(h, message());
    assert.equal(r.code, 550);
    assert.equal(r.enhanced, '5.7.1');
    assert.match(r.text, /DMARC/);
    assert.equal(await h.totalMessages(), 0);
  });
});

test('DMARC p=reject with dmarc_reject = false: filed into Junk instead', async () => {
  await withHarness({ zone: failingDmarc('reject'), config: { smtp: { dmarc_reject: false } } }, async (h) => {
    assert.equal((await send(h, message())).code, 250);
    assert.equal((await h.messages('alice@example.org')).length, 0);
    assert.equal((await h.messages('alice@example.org', 'Junk')).length, 1);
  });
});

test('DMARC p=quarantine and failing: delivered into Junk with dmarc=fail recorded', async () => {
  await withHarness({ zone: failingDmarc('quarantine') }, async (h) => {
    assert.equal((await send(h, message())).code, 250);
    assert.equal((await h.messages('alice@example.org')).length, 0);
    const [junk] = await h.messages('alice@example.org', 'Junk');
    assert.ok(junk, 'in Junk');
    assert.match(authResults(junk), /dmarc=fail/);
  });
});

test('DNS failure during the checks: temperror recorded, mail still accepted', async () => {
  await withHarness({}, async (h) => {
    h.dns.fail('_dmarc.sender.test', 'servfail');
    h.dns.set('sender.test', 'TXT', ['v=spf1 ip4:127.0.0.1 -all']);
    assert.equal((await send(h, message())).code, 250);
    const ar = authResults((await h.messages('alice@example.org'))[0]!);
    assert.match(ar, /spf=pass/);
    assert.match(ar, /dmarc=temperror/);
  });
});
