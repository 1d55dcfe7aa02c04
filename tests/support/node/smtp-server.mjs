// A real SMTP server (the npm package `smtp-server`) that keeps what it receives, for tests.
//
// Usage: node smtp-server.mjs '<json settings>'
//   settings.port       port to listen on (0 = pick one; default 0)
//   settings.tlsCert    PEM certificate chain: offer STARTTLS with it (and require it)
//   settings.tlsKey     PEM private key for tlsCert
//   settings.users      { "<user>": "<password>" }: require AUTH PLAIN/LOGIN with these
// Prints {"port": N} once it listens, then one JSON line per accepted message:
//   {"envelope": {"from": "...", "to": ["..."]}, "raw": "<the message, base64>"}
// Exits when stdin closes, so a test that dies never leaves it behind.
import { SMTPServer } from 'smtp-server';

const settings = JSON.parse(process.argv[2] || '{}');
const users = settings.users || null;
const tls = settings.tlsCert && settings.tlsKey;

const server = new SMTPServer({
  secure: false,
  hideSTARTTLS: !tls,
  key: tls ? settings.tlsKey : undefined,
  cert: tls ? settings.tlsCert : undefined,
  authOptional: !users,
  disabledCommands: users ? [] : ['AUTH'],
  logger: false,
  onAuth(auth, session, cb) {
    if (users && users[auth.username] === auth.password) return cb(null, { user: auth.username });
    return cb(new Error('Invalid username or password'));
  },
  onMailFrom(address, session, cb) {
    if (tls && !session.secure) return cb(new Error('Must issue a STARTTLS command first'));
    return cb();
  },
  onData(stream, session, cb) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      process.stdout.write(JSON.stringify({
        envelope: {
          from: session.envelope.mailFrom && session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          secure: session.secure,
          user: session.user || null,
        },
        raw: Buffer.concat(chunks).toString('base64'),
      }) + '\n');
      cb();
    });
  },
});
server.on('error', (e) => console.error('smtp-server error', e.message));
server.listen(settings.port || 0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.server.address().port }) + '\n');
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
