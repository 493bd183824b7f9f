// A real authoritative DNS server on loopback for tests (UDP, and TCP for answers too big for UDP),
// built on dns-packet. Tests publish the MX, A, SPF, DKIM and DMARC records they need with set(), and can
// make a name fail (SERVFAIL, or no answer at all) to exercise temporary errors.
//
//   const dns = await startDnsServer({ 'example.test': { MX: [{ exchange: 'mx.example.test', priority: 10 }] } });
//   const resolver = createResolver({ upstream: [dns.upstream], timeoutMs: 500 });
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, Packet } from 'dns-packet';
import { reverseName } from '../../src/dns/index.ts';

export type RecordTypeName = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR' | 'CNAME' | 'NS';
/** A/AAAA/PTR/CNAME/NS: a string. MX: { exchange, priority } or "10 mx.example". TXT: a string (split
 * into 255-byte character-strings) or an array of character-strings making one record. */
export type RecordValue = string | string[] | { exchange: string; priority: number };
export type Zone = Record<string, Partial<Record<RecordTypeName, RecordValue[]>>>;

export interface DnsServerOptions {
  /** TTL of answers when set() is given none. */
  defaultTtl?: number;
  /** SOA MINIMUM and TTL in negative answers: how long resolvers cache NXDOMAIN/NODATA (RFC 2308). */
  negativeTtl?: number;
  /** Loopback address to listen on (default 127.0.0.1). Tools that only read /etc/resolv.conf need port
   * 53 on an address of their own, e.g. 127.53.x.y (root only). */
  host?: string;
  /** Default 0: any free port (UDP and TCP share it). */
  port?: number;
}

export interface TestDnsServer {
  host: string;
  port: number;
  /** "127.0.0.1:PORT", for `[dns] upstream` / createResolver({ upstream: [...] }). */
  upstream: string;
  /** Replaces the records of that name and type. For PTR, `name` may be the IP address. */
  set(name: string, type: RecordTypeName, values: RecordValue[], ttl?: number): void;
  /** Removes the records of that type, or all records of the name. */
  remove(name: string, type?: RecordTypeName): void;
  /** Makes queries for the name answer SERVFAIL or nothing at all; null restores normal answers. */
  fail(name: string, mode: 'servfail' | 'timeout' | null): void;
  /** Queries received so far (UDP and TCP). */
  readonly queries: number;
  /** Every query received, in order. */
  readonly queryLog: { name: string; type: string; transport: 'udp' | 'tcp' }[];
  close(): Promise<void>;
}

/** RFC 1035 4.2.1: without EDNS a UDP answer is at most 512 bytes. */
const CLASSIC_UDP_BYTES = 512;
const MAX_CNAME_HOPS = 8;

function norm(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function chunkTxt(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, i + 255).toString('utf8'));
  return out.length > 0 ? out : [''];
}

export async function startDnsServer(zone: Zone = {}, options: DnsServerOptions = {}): Promise<TestDnsServer> {
  const defaultTtl = options.defaultTtl ?? 300;
  const negativeTtl = options.negativeTtl ?? 60;
  const host = options.host ?? '127.0.0.1';
  const records = new Map<string, Map<RecordTypeName, { values: RecordValue[]; ttl: number }>>();
  const failures = new Map<string, 'servfail' | 'timeout'>();
  const queryLog: { name: string; type: string; transport: 'udp' | 'tcp' }[] = [];

  const set = (name: string, type: RecordTypeName, values: RecordValue[], ttl = defaultTtl) => {
    const owner = type === 'PTR' && isIP(name) ? reverseName(name) : norm(name);
    let byType = records.get(owner);
    if (!byType) records.set(owner, (byType = new Map()));
    byType.set(type, { values, ttl });
  };
  for (const [name, types] of Object.entries(zone)) {
    for (const [type, values] of Object.entries(types)) if (values) set(name, type as RecordTypeName, values);
  }

  const toAnswer = (name: string, type: RecordTypeName, value: RecordValue, ttl: number): Answer => {
    switch (type) {
      case 'MX': {
        const mx = typeof value === 'string' ? { priority: Number(value.split(/\s+/)[0]), exchange: value.split(/\s+/)[1] ?? '' } : (value as { exchange: string; priority: number });
        return { type: 'MX', name, ttl, class: 'IN', data: { preference: mx.priority, exchange: mx.exchange } };
      }
      case 'TXT':
        return { type: 'TXT', name, ttl, class: 'IN', data: Array.isArray(value) ? value : chunkTxt(String(value)) };
      default:
        return { type, name, ttl, class: 'IN', data: String(value) } as Answer;
    }
  };

  const soaFor = (name: string): Answer => {
    const labels = name.split('.');
    const apex = labels.slice(-2).join('.') || 'test';
    return {
      type: 'SOA',
      name: apex,
      ttl: negativeTtl,
      class: 'IN',
      data: { mname: `ns.${apex}`, rname: `hostmaster.${apex}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: negativeTtl },
    };
  };

  const exists = (name: string) => records.has(name) || [...records.keys()].some((k) => k.endsWith(`.${name}`));

  /** The response packet for a query, or null to stay silent (simulated timeout). */
  const respond = (query: DecodedPacket): Packet | null => {
    const question = query.questions?.[0];
    const base = {
      type: 'response' as const,
      id: query.id ?? 0,
      flags: packet.AUTHORITATIVE_ANSWER | packet.RECURSION_AVAILABLE | ((query.flags ?? 0) & packet.RECURSION_DESIRED),
      questions: question ? [question] : [],
    };
    if (!question) return { ...base, flags: base.flags | 1 /* FORMERR */ };
    const qname = norm(question.name);
    const mode = failures.get(qname);
    if (mode === 'timeout') return null;
    if (mode === 'servfail') return { ...base, flags: base.flags | 2 };
    const answers: Answer[] = [];
    let current = qname;
    for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
      const byType = records.get(current);
      const wanted = byType?.get(question.type as RecordTypeName);
      if (wanted) {
        for (const v of wanted.values) answers.push(toAnswer(current, question.type as RecordTypeName, v, wanted.ttl));
        return { ...base, answers };
      }
      const cname = question.type === 'CNAME' ? undefined : byType?.get('CNAME');
      if (!cname || cname.values.length === 0) break;
      answers.push(toAnswer(current, 'CNAME', cname.values[0]!, cname.ttl));
      current = norm(String(cname.values[0]));
    }
    // RFC 2308 3: negative answers carry the zone's SOA in the authority section.
    const rcode = exists(current) ? 0 : 3;
    return { ...base, flags: base.flags | rcode, answers, authorities: [soaFor(current)] };
  };

  const handle = (msg: Buffer, transport: 'udp' | 'tcp'): { reply: Buffer | null; limit: number } => {
    let query: DecodedPacket;
    try {
      query = packet.decode(msg);
    } catch {
      return { reply: null, limit: 0 };
    }
    const q = query.questions?.[0];
    queryLog.push({ name: q ? norm(q.name) : '', type: q?.type ?? '', transport });
    const opt = query.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const limit = Math.max(CLASSIC_UDP_BYTES, opt?.udpPayloadSize ?? CLASSIC_UDP_BYTES);
    const response = respond(query);
    return { reply: response ? packet.encode(response) : null, limit };
  };

  const onUdpMessage = (udp: UdpSocket, msg: Buffer, rinfo: { port: number; address: string }): void => {
    const { reply, limit } = handle(msg, 'udp');
    if (!reply) return;
    let out = reply;
    if (reply.length > limit) {
      // RFC 1035 4.2.1 / RFC 7766: too big for UDP: send the header with TC set and let the client use TCP.
      const full = packet.decode(reply);
      out = packet.encode({ type: 'response', id: full.id ?? 0, flags: (full.flags ?? 0) | packet.TRUNCATED_RESPONSE, questions: full.questions ?? [] });
    }
    udp.send(out, rinfo.port, rinfo.address);
  };

  const connections = new Set<Socket>();
  const onTcpConnection = (socket: Socket): void => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const { reply } = handle(buffered.subarray(2, 2 + length), 'tcp');
        buffered = buffered.subarray(2 + length);
        if (!reply) continue;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(reply.length);
        socket.write(Buffer.concat([prefix, reply]));
      }
    });
  };

  // UDP takes a free port, and TCP listens on the same number. That TCP port may be taken (by another test's
  // connection or listener): then both start again on another port, a bounded number of times.
  let udp: UdpSocket | null = null;
  let tcp: Server | null = null;
  let port = 0;
  for (let attempt = 0; !tcp; attempt++) {
    const socket = createSocket('udp4');
    socket.on('message', (msg, rinfo) => onUdpMessage(socket, msg, rinfo));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port ?? 0, host, () => resolve());
    });
    port = socket.address().port;
    const server = createServer(onTcpConnection);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
    } catch (error) {
      socket.close();
      if ((error as { code?: string }).code !== 'EADDRINUSE' || options.port !== undefined || attempt >= 20) throw error;
      continue;
    }
    udp = socket;
    tcp = server;
  }
  const udpSocket: UdpSocket = udp!;
  const tcpServer: Server = tcp;

  return {
    host,
    port,
    upstream: `${host}:${port}`,
    set,
    remove(name, type) {
      const owner = type === 'PTR' && isIP(name) ? reverseName(name) : norm(name);
      if (!type) records.delete(owner);
      else records.get(owner)?.delete(type);
    },
    fail(name, mode) {
      if (mode) failures.set(norm(name), mode);
      else failures.delete(norm(name));
    },
    get queries() {
      return queryLog.length;
    },
    queryLog,
    async close() {
      for (const s of connections) s.destroy();
      await Promise.all([new Promise<void>((r) => udpSocket.close(() => r())), new Promise<void>((r) => tcpServer.close(() => r()))]);
    },
  };
}
