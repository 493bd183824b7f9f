// The commented config that `mailstack init` writes: the keys a self-hoster sets on day one. Every key is
// documented in mailstack.example.toml at the top of the repository.

export interface StarterOptions {
  dataDir: string;
  hostname: string;
  /** Listener addresses; the production ports unless given (the dev instance uses high ports). */
  ports?: Partial<Record<'smtp' | 'submission' | 'submissions' | 'imap' | 'imaps', number>>;
  bind?: string;
}

export function starterConfig(o: StarterOptions): string {
  const bind = o.bind ?? '0.0.0.0';
  const p = { smtp: 25, submission: 587, submissions: 465, imap: 143, imaps: 993, ...o.ports };
  return `# mailstack configuration. Every key is explained in mailstack.example.toml;
# check this file with: mailstack config check --config THIS_FILE

[server]
# The name this server announces (SMTP greeting, Received lines). Its A/AAAA and PTR records should match.
hostname = ${JSON.stringify(o.hostname)}
# All state: the vault, the encrypted store, the queue. Keep it on a disk you back up.
data_dir = ${JSON.stringify(o.dataDir)}

[log]
level = "info"

[tls]
# Your certificate (e.g. from Let's Encrypt). Without them a self-signed certificate is made in data_dir/tls.
# cert = "/etc/ssl/mail/fullchain.pem"
# key = "/etc/ssl/mail/privkey.pem"

[smtp]
# Inbound MX: open to the world, mail for your domains only.
listen = ["${bind}:${p.smtp}"]

[submission]
# Your users' mail programs send here: STARTTLS on 587, implicit TLS on 465; a password is required.
listen = ["${bind}:${p.submission}"]
listen_tls = ["${bind}:${p.submissions}"]

[imap]
# STARTTLS on 143 (no password before TLS), implicit TLS on 993.
listen = ["${bind}:${p.imap}"]
listen_tls = ["${bind}:${p.imaps}"]
`;
}
