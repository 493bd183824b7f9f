// COMPRESS DEFLATE (RFC 4978): raw deflate both ways from the octet after the tagged OK.
import { AUTHED, defineCommand } from '../command.ts';
import { ImapNo } from '../errors.ts';

export const compress = defineCommand({
  name: 'COMPRESS',
  states: AUTHED,
  parse(p) {
    p.sp();
    const mechanism = p.atom().toUpperCase();
    p.end();
    return mechanism;
  },
  async run(session, mechanism: string, tag) {
    if (mechanism !== 'DEFLATE') throw new ImapNo('CANNOT', `Unknown compression mechanism ${mechanism.slice(0, 20)}`);
    if (session.transport.compressed) throw new ImapNo('COMPRESSIONACTIVE', 'Compression is already active');
    session.send(`${tag} OK DEFLATE active`);
    session.flushOutput();
    session.transport.startCompression();
    return { tagged: true };
  },
});
