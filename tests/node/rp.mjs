// A real relying party (panva's openid-client) against the portal's OpenID Provider, driven by
// tests/test_provider_rp.py: prints the authorization URL, reads the callback URL on stdin, then
// validates everything through the library and prints one JSON line of results.
import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const [issuer, clientId, clientSecret, redirectUri, postLogoutUri] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), {
  execute: [client.allowInsecureRequests], // plain http on loopback only, like the provider itself
});
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid profile email offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
out({ authorize: url.href });

const callback = (await lines.next()).value;
const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
let replayRefused = false;
try {
  await client.refreshTokenGrant(config, tokens.refresh_token);
} catch (err) {
  replayRefused = err.error === 'invalid_grant';
}
let familyRevoked = false;
try {
  await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
} catch (err) {
  familyRevoked = true;
}
// A fresh family for revocation: sign in again without a consent page (remembered).
out({ authorize: client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid profile email offline_access', state, nonce,
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
}).href });
const second = await client.authorizationCodeGrant(config, new URL((await lines.next()).value), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
});
await client.tokenRevocation(config, second.refresh_token, { token_type_hint: 'refresh_token' });
let revokedRefused = false;
try {
  await client.refreshTokenGrant(config, second.refresh_token);
} catch (err) {
  revokedRefused = err.error === 'invalid_grant';
}
const endSession = client.buildEndSessionUrl(config, {
  id_token_hint: second.id_token,
  post_logout_redirect_uri: postLogoutUri,
  state: 'bye',
});
out({
  claims,
  userinfo,
  scope: tokens.scope,
  rotated: refreshed.refresh_token !== tokens.refresh_token,
  replayRefused,
  familyRevoked,
  revokedRefused,
  endSession: endSession.href,
});
process.exit(0);
