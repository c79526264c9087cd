// A real OpenID Provider (panva's oidc-provider) on loopback for the federation tests.
//
// Configuration comes from the OP_CONFIG environment variable (JSON):
//   { "port": 12345, "clients": [ { "client_id", "client_secret", "redirect_uris", "misbehave"? } ] }
// Accounts need no registration: the login name typed on the provider's own (development) login form
// is "sub;email;verified;name" (the whole string becomes the ID token's `sub`), e.g. "u1;u1@example.ru;1;Иван Петров" (verified: 1 or 0; email may be empty).
//
// A client with "misbehave" gets a correct authorization response but a doctored ID token from the token
// endpoint, re-signed with the provider's own key (or a foreign one): "expired", "bad-signature",
// "wrong-nonce", "wrong-issuer", "wrong-audience", "not-yet-valid" (nbf ahead), "wrong-azp" (two audiences,
// azp another client), "alg-none" (unsigned), "stale-iat" (issued a day ago, not yet expired). Prints "ready <issuer>" once it listens.
import * as jose from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OP_CONFIG || '{}');
const port = Number(config.port || 0);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'op-key-1', alg: 'RS256', use: 'sig' };
const foreign = await jose.generateKeyPair('RS256', { extractable: true });

function parseAccount(id) {
  const [sub, email = '', verified = '0', name = ''] = String(id).split(';');
  return { sub, email: email || undefined, email_verified: verified === '1', name: name || undefined };
}

const misbehaving = new Map((config.clients || []).filter((c) => c.misbehave).map((c) => [c.client_id, c.misbehave]));

const provider = new Provider(issuer, {
  clients: (config.clients || []).map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['test-only-cookie-key-0123456789'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const account = parseAccount(id);
    return {
      accountId: id,
      async claims() {
        const claims = { sub: account.sub, name: account.name };
        if (account.email) Object.assign(claims, { email: account.email, email_verified: account.email_verified });
        return claims;
      },
    };
  },
});
provider.proxy = false;

// The misbehaviour: rewrite the ID token in the token endpoint's answer.
provider.use(async (ctx, next) => {
  await next();
  const mode = ctx.oidc?.client && misbehaving.get(ctx.oidc.client.clientId);
  if (!mode || ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const claims = jose.decodeJwt(ctx.body.id_token);
  const now = Math.floor(Date.now() / 1000);
  let key = privateKey;
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  else if (mode === 'bad-signature') key = foreign.privateKey;
  else if (mode === 'wrong-nonce') claims.nonce = 'not-the-nonce-that-was-sent';
  else if (mode === 'wrong-issuer') claims.iss = 'http://127.0.0.1:1';
  else if (mode === 'wrong-audience') claims.aud = 'somebody-else';
  else if (mode === 'not-yet-valid') claims.nbf = now + 3600;
  else if (mode === 'stale-iat') Object.assign(claims, { iat: now - 86400, exp: now + 300 });
  else if (mode === 'wrong-azp') Object.assign(claims, { aud: [claims.aud, 'somebody-else'], azp: 'somebody-else' });
  const idToken = mode === 'alg-none'
    ? new jose.UnsecuredJWT(claims).encode()
    : await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'op-key-1' }).sign(key);
  ctx.body = { ...ctx.body, id_token: idToken };
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
