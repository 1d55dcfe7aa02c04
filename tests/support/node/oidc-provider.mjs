// A real OpenID Connect provider (the npm package `oidc-provider`) for tests and the demo.
//
// Usage: node oidc-provider.mjs '<json settings>'
//   settings.port          port to listen on (0 = pick one; default 0)
//   settings.clients       oidc-provider client metadata array
//   settings.accounts      { "<login>": { email, email_verified, name, groups, ... } }
//   settings.amr           optional amr array added to ID tokens
//   settings.keepAlive     keep running when stdin closes (the demo)
// Prints one JSON line {"issuer": "..."} on stdout once it listens. Exits when stdin closes,
// so a test that dies never leaves it behind.
import http from 'node:http';
import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2] || '{}');
const accounts = settings.accounts || {};

const server = http.createServer();
server.listen(settings.port || 0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: settings.clients || [],
    cookies: { keys: ['borderless-test-cookie-key-0123456789'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    async findAccount(ctx, id) {
      const known = accounts[id] || { email: `${id}@example.test`, email_verified: true, name: id };
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...known };
        },
      };
    },
    async extraTokenClaims() {
      return settings.amr ? { amr: settings.amr } : undefined;
    },
  });
  provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error', err));
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});

if (!settings.keepAlive) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
