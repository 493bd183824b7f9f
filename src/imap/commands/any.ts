// Commands legal in any state: CAPABILITY, NOOP, LOGOUT (RFC 9051 6.1), ID (RFC 2971).
import { ANY, defineCommand } from '../command.ts';
import { joinChunks, nstr, str } from '../encoder.ts';
import { ImapSyntaxError } from '../errors.ts';

export const capability = defineCommand({
  name: 'CAPABILITY',
  states: ANY,
  parse: (p) => p.end(),
  async run(session) {
    session.send(`* CAPABILITY ${session.capabilities().join(' ')}`);
  },
});

/** RFC 9051 6.1.2: NOOP is the polite way to poll for updates; expunges are reported here. */
export const noop = defineCommand({
  name: 'NOOP',
  states: ANY,
  parse: (p) => p.end(),
  async run() {},
});

export const logout = defineCommand({
  name: 'LOGOUT',
  states: ANY,
  parse: (p) => p.end(),
  async run(session) {
    session.send('* BYE mailstack IMAP logging out');
    session.state = 'logout';
  },
});

/** Field/value pairs a client may send in ID (RFC 2971 3.3: at most 30). */
const MAX_ID_FIELDS = 30;

export const id = defineCommand({
  name: 'ID',
  states: ANY,
  parse(p) {
    p.sp();
    const fields: [string, string | null][] = [];
    if (p.take('NIL')) {
      p.end();
      return fields;
    }
    p.open();
    if (p.peek() !== ')') {
      for (;;) {
        const key = p.string();
        p.sp();
        const value = p.nstring();
        fields.push([key, value]);
        if (fields.length > MAX_ID_FIELDS) throw new ImapSyntaxError(`ID takes at most ${MAX_ID_FIELDS} fields`);
        if (!p.maybeSp()) break;
      }
    }
    p.close();
    p.end();
    return fields;
  },
  async run(session, fields: [string, string | null][]) {
    if (fields.length > 0) session.log.info({ clientId: Object.fromEntries(fields.map(([k, v]) => [k.slice(0, 30), v?.slice(0, 100) ?? null])) }, 'client ID');
    session.send(['* ID (', ...joinChunks([str('name'), str('mailstack'), str('vendor'), nstr('mailstack')]), ')']);
  },
});
