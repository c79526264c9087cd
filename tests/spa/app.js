// A partner's single-page app on its own origin, written the way a partner would with oidc-client-ts:
// code flow + PKCE, refresh, userinfo, revocation and sign-out, all from the browser (CORS, no cookies).
// The portal's URL and the client_id come from sessionStorage (set by the test before signing in).
const config = JSON.parse(sessionStorage.getItem('spa-config') || '{}');
const manager = config.authority && new oidc.UserManager({
  authority: config.authority,
  client_id: config.clientId,
  redirect_uri: location.origin + '/callback.html',
  post_logout_redirect_uri: location.origin + '/bye.html',
  response_type: 'code',
  scope: 'openid profile email offline_access',
  loadUserInfo: true,
  automaticSilentRenew: false,
  userStore: new oidc.WebStorageStateStore({ store: window.localStorage }),
});
const show = (value) => { document.getElementById('out').textContent = JSON.stringify(value); };

async function userinfo(method) {
  const user = await manager.getUser();
  const response = await fetch(manager.settings.metadata?.userinfo_endpoint || config.authority + '/oauth/userinfo', {
    method, headers: { Authorization: 'Bearer ' + user.access_token }, credentials: 'omit',
  });
  return { status: response.status, body: await response.json() };
}

window.spa = {
  configure: (authority, clientId) => sessionStorage.setItem('spa-config', JSON.stringify({ authority, clientId })),
  signIn: () => manager.signinRedirect(),
  user: async () => {
    const user = await manager.getUser();
    return user && { profile: user.profile, access: user.access_token, refresh: user.refresh_token, scope: user.scope };
  },
  refresh: async () => {
    const user = await manager.signinSilent();  // with a refresh token: the refresh_token grant over CORS
    return { access: user.access_token, refresh: user.refresh_token, profile: user.profile };
  },
  userinfo,
  revoke: () => manager.revokeTokens(['access_token', 'refresh_token']),
  refreshFails: async () => {
    try { await manager.signinSilent(); return false; } catch (err) { return String(err.message || err); }
  },
  signOut: () => manager.signoutRedirect(),
};

if (location.pathname === '/callback.html') {
  manager.signinRedirectCallback().then(
    (user) => show({ signedIn: true, sub: user.profile.sub, email: user.profile.email }),
    (err) => show({ signedIn: false, error: String(err.message || err) }),
  );
} else if (location.pathname === '/bye.html') {
  manager.signoutRedirectCallback().then(() => show({ signedOut: true }), (err) => show({ error: String(err) }));
}
