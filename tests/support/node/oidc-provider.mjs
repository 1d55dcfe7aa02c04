// A real OpenID Connect provider (the npm package `oidc-provider`) for tests and the demo.
//
// Usage: node oidc-provider.mjs '<json settings>'
//   settings.port          port to listen on (0 = pick one; default 0)
//   settings.clients       oidc-provider client metadata array
//   settings.accounts      { "<login>": { email, email_verified, name, groups, ... } }; an
//                          account's `amr` and `acr` are what its sign-in reports in the ID
//                          token (as a provider does after its own MFA)
//   settings.amr           optional amr array added to access tokens
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
      // Every ID token says when and how its user authenticated, as a provider that does
      // its own MFA would: `auth_time` always, `amr`/`acr` when the account has them.
      openid: ['sub', 'auth_time', 'amr', 'acr'],
      amr: null,
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    async findAccount(ctx, id) {
      const { amr, acr, ...known } = accounts[id] || { email: `${id}@example.test`, email_verified: true, name: id };
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
  // The login page's result carries the account's authentication methods into the session,
  // and from there into ID tokens' `amr`, `acr` and `auth_time`.
  const finish = provider.interactionFinished.bind(provider);
  provider.interactionFinished = (req, res, result, opts) => {
    const account = result && result.login && accounts[result.login.accountId];
    if (account && account.amr) result.login.amr = account.amr;
    if (account && account.acr) result.login.acr = account.acr;
    return finish(req, res, result, opts);
  };
  provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error', err));
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});

if (!settings.keepAlive) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
