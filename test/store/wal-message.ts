// The messages wal-child.ts delivers: odd ones large enough for a body segment, even ones kept in SQLite.
export function walTestMessage(n: number): Buffer {
  return Buffer.from(`Subject: wal test ${n}\r\n\r\n` + `line ${n} of the body\r\n`.repeat(n % 2 === 1 ? 1000 : 3));
}
