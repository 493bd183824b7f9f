// Python's imaplib against the server (STARTTLS on the plain port and implicit TLS).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startHarness, message, PASSWORD } from './harness.ts';
import { sessionBugs } from '../../src/imap/index.ts';

const SCRIPT = String.raw`
import imaplib, ssl, sys, json
port, tls_port, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
out = {}
m = imaplib.IMAP4('127.0.0.1', port)
out['before_tls'] = 'LOGINDISABLED' in m.capabilities
m.starttls(ssl_context=ctx)
m.login(user, password)
typ, data = m.select('INBOX')
out['exists'] = int(data[0])
typ, data = m.search(None, 'SUBJECT', '"py 2"')
out['search'] = data[0].decode()
typ, data = m.fetch('1', '(RFC822)')
out['body'] = data[0][1].decode()
typ, data = m.store('1', '+FLAGS', '\\Flagged')
typ, data = m.fetch('1', '(FLAGS)')
out['flags'] = data[0].decode()
typ, data = m.append('INBOX', '\\Seen', None, b'Subject: from python\r\n\r\nhi\r\n')
out['append'] = data[0].decode()
typ, data = m.list()
out['list'] = [d.decode() for d in data]
typ, data = m.uid('SEARCH', 'ALL')
out['uids'] = data[0].decode()
m.create('PyBox')
m.copy('1:2', 'PyBox')
typ, data = m.status('PyBox', '(MESSAGES)')
out['status'] = data[0].decode()
m.close()
m.logout()
s = imaplib.IMAP4_SSL('127.0.0.1', tls_port, ssl_context=ctx)
s.login(user, password)
typ, data = s.select('PyBox', readonly=True)
out['ro'] = int(data[0])
s.logout()
print(json.dumps(out))
`;

test('python imaplib', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  await h.deliver(message('py 1', 'first'));
  await h.deliver(message('py 2', 'second'));
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('python3', ['-c', SCRIPT, String(h.port), String(h.tlsPort), 'alice@example.org', PASSWORD]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout) as Record<string, unknown>;
  assert.equal(out['before_tls'], true);
  assert.equal(out['exists'], 2);
  assert.equal(out['search'], '2');
  assert.match(out['body'] as string, /Subject: py 1/);
  assert.match(out['flags'] as string, /\\Flagged/);
  assert.match(out['append'] as string, /APPENDUID/);
  assert.ok((out['list'] as string[]).some((l) => /"INBOX"/.test(l)));
  assert.equal(out['uids'], '1 2 3');
  assert.equal(out['status'], 'PyBox (MESSAGES 2)'.replace('PyBox', '"PyBox"'));
  assert.equal(out['ro'], 2);
  assert.equal(sessionBugs.count, 0);
});
