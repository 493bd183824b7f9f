// One DNS query to one server over UDP, falling back to TCP when the answer is truncated (RFC 1035 4.2,
// RFC 7766 5). Built on dns-packet so that every answer keeps its TTL (node:dns drops TTLs for MX/TXT).
import { createSocket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, RecordType } from 'dns-packet';

/** RFC 6891 6.2.5 / DNS flag day 2020: 1232 bytes avoids IP fragmentation on any path. */
export const EDNS_UDP_PAYLOAD_BYTES = 1232;
/** A TCP answer is at most 65535 bytes plus its 2-byte length prefix (RFC 1035 4.2.2). */
const MAX_TCP_MESSAGE_BYTES = 65535 + 2;

export interface Upstream {
  host: string;
  port: number;
}

/** "ip", "ip:port", "[v6]:port" or a bare IPv6 address. Throws on anything else. */
export function parseUpstream(spec: string): Upstream {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(spec);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ? Number(bracketed[2]) : 53 };
  if (isIP(spec) === 6) return { host: spec, port: 53 };
  const hostPort = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(spec);
  if (hostPort && isIP(hostPort[1]!) === 4) return { host: hostPort[1]!, port: hostPort[2] ? Number(hostPort[2]) : 53 };
  throw new Error(`invalid DNS upstream "${spec}": expected "ip", "ip:port" or "[ipv6]:port"`);
}

export interface WireAnswer {
  rcode: string;
  answers: Answer[];
  authorities: Answer[];
}

export class WireTimeout extends Error {
  constructor(server: Upstream) {
    super(`no answer from ${server.host}:${server.port}`);
  }
}

function buildQuery(id: number, name: string, type: RecordType): Buffer {
  return packet.encode({
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_PAYLOAD_BYTES, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

/** A reply belongs to our query only if id and question match (RFC 5452 9.1: spoofing resistance). */
function matches(reply: DecodedPacket, id: number, name: string, type: RecordType): boolean {
  if (reply.id !== id || reply.type !== 'response') return false;
  const q = reply.questions?.[0];
  return !!q && q.type === type && q.name.toLowerCase() === name.toLowerCase();
}

function toAnswer(reply: DecodedPacket): WireAnswer {
  return {
    rcode: (reply as DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR',
    answers: reply.answers ?? [],
    authorities: reply.authorities ?? [],
  };
}

function queryUdp(server: Upstream, name: string, type: RecordType, timeoutMs: number): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const id = randomInt(0, 0x10000);
    const query = buildQuery(id, name, type);
    const socket = createSocket(isIP(server.host) === 6 ? 'udp6' : 'udp4');
    let done = false;
    const finish = (err: Error | null, reply?: DecodedPacket) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(resend);
      socket.close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new WireTimeout(server)), timeoutMs);
    // One retransmission halfway: a lost datagram should not cost the whole timeout.
    const resend = setTimeout(() => socket.send(query, server.port, server.host, () => {}), Math.max(1, Math.floor(timeoutMs / 2)));
    socket.on('error', (err) => finish(err));
    socket.on('message', (msg, rinfo) => {
      if (rinfo.address !== server.host && rinfo.address !== `::ffff:${server.host}`) return;
      let reply: DecodedPacket;
      try {
        reply = packet.decode(msg);
      } catch {
        return; // garbage: keep waiting for the real answer
      }
      if (matches(reply, id, name, type)) finish(null, reply);
    });
    socket.send(query, server.port, server.host, (err) => {
      if (err) finish(err);
    });
  });
}

function queryTcp(server: Upstream, name: string, type: RecordType, timeoutMs: number): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const id = randomInt(0, 0x10000);
    const query = buildQuery(id, name, type);
    const socket = tcpConnect({ host: server.host, port: server.port });
    let buffered = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, reply?: DecodedPacket) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new WireTimeout(server)), timeoutMs);
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`connection to ${server.host}:${server.port} closed before an answer`)));
    socket.on('connect', () => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(query.length);
      socket.write(Buffer.concat([prefix, query]));
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_TCP_MESSAGE_BYTES) return finish(new Error('oversized TCP DNS message'));
      if (buffered.length < 2) return;
      const length = buffered.readUInt16BE(0);
      if (buffered.length < 2 + length) return;
      let reply: DecodedPacket;
      try {
        reply = packet.decode(buffered.subarray(2, 2 + length));
      } catch (err) {
        return finish(new Error(`malformed DNS answer over TCP: ${(err as Error).message}`));
      }
      if (!matches(reply, id, name, type)) return finish(new Error('TCP DNS answer does not match the query'));
      finish(null, reply);
    });
  });
}

/** Asks one server; over TCP when the UDP answer came back truncated. */
export async function queryServer(server: Upstream, name: string, type: RecordType, timeoutMs: number): Promise<WireAnswer> {
  const started = Date.now();
  const udp = await queryUdp(server, name, type, timeoutMs);
  if (!udp.flag_tc) return toAnswer(udp);
  const left = Math.max(1, timeoutMs - (Date.now() - started));
  return toAnswer(await queryTcp(server, name, type, left));
}
