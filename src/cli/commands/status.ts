import type { Command } from 'commander';
import { connectAdmin } from '../../admin/index.ts';
import { adminSocketPath } from '../../config/index.ts';
import { loadCommandConfig, unreachableServer } from '../open-context.ts';
import { dataDirHeldByServer } from '../../store/index.ts';
import type { ServerStatus } from '../../server/index.ts';

/** Exit status 3 when no server runs, as `systemctl status` does for a stopped unit. */
const EXIT_NOT_RUNNING = 3;
/** Exit status 4 (LSB: status unknown) when a server holds the data directory but cannot be asked. */
const EXIT_UNKNOWN = 4;

function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

export function register(program: Command): void {
  program
    .command('status')
    .description('say whether the server runs, whether it is locked, and what it listens on')
    .option('--json', 'print the status as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config } = loadCommandConfig(cmd.optsWithGlobals());
      const client = await connectAdmin(adminSocketPath(config), config.server.data_dir);
      if (!client) {
        if (dataDirHeldByServer(config.server.data_dir)) {
          if (opts.json) process.stdout.write(JSON.stringify({ running: true, reachable: false }) + '\n');
          else process.stdout.write(`${unreachableServer(config)}\n`);
          process.exitCode = EXIT_UNKNOWN;
          return;
        }
        if (opts.json) process.stdout.write(JSON.stringify({ running: false }) + '\n');
        else process.stdout.write(`not running (no server on ${adminSocketPath(config)})\n`);
        process.exitCode = EXIT_NOT_RUNNING;
        return;
      }
      try {
        const s = (await client.call('status')) as ServerStatus;
        if (opts.json) {
          process.stdout.write(JSON.stringify({ running: true, ...s }) + '\n');
          return;
        }
        const lines = [
          `running (pid ${s.pid}, since ${s.startedAt}) as ${s.hostname}`,
          s.locked ? 'LOCKED: clients get temporary failures until `mailstack unlock`' : 'unlocked: accepting mail',
          ...s.listening.map((l) => `listening: ${l.name.padEnd(12)} ${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`),
        ];
        if (s.selfSignedCertificate) lines.push('TLS: self-signed certificate (set tls.cert and tls.key for a real one)');
        if (s.disk) {
          const { freeBytes, requiredBytes } = s.disk;
          lines.push(
            freeBytes < requiredBytes
              ? `DISK NEARLY FULL: ${formatBytes(freeBytes)} free in the data directory, below the ${formatBytes(requiredBytes)} that mail needs: SMTP answers 452 4.3.1 until there is room ([store] min_free_bytes)`
              : `disk: ${formatBytes(freeBytes)} free in the data directory (mail is refused below ${formatBytes(requiredBytes)})`,
          );
        }
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        client.close();
      }
    });
}
