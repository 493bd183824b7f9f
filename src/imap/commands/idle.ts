// IDLE (RFC 2177, RFC 9051 6.3.13): report changes as they happen until the client sends DONE.
import { AUTHED, defineCommand } from '../command.ts';
import { ImapBye, ImapSyntaxError } from '../errors.ts';
import type { InputItem } from '../session.ts';

export const idle = defineCommand({
  name: 'IDLE',
  states: AUTHED,
  parse: (p) => p.end(),
  async run(session) {
    // Anything pending is reported before the continuation, so the client starts from a known state.
    session.reportUpdates(true);
    session.send('+ idling');
    session.flushOutput();
    const input = session.transport.nextInput();
    let done: InputItem | null | undefined;
    input.then((item) => {
      done = item;
    }, () => {
      done = null;
    });
    for (;;) {
      const selected = session.selected;
      const wake = selected ? selected.nextChange() : new Promise<void>(() => {});
      await Promise.race([input, wake]);
      if (done !== undefined) break;
      // RFC 9051 7.4.1: expunges may be sent during IDLE.
      session.reportUpdates(true);
      session.flushOutput();
    }
    if (done === null) throw new ImapBye('Connection closed during IDLE');
    if (done.kind !== 'frame' || (done.frame.lines[0] ?? '').trim().toUpperCase() !== 'DONE' || done.frame.lines.length !== 1) {
      throw new ImapSyntaxError('Expected DONE to end IDLE');
    }
  },
});
