// Signing in with a real browser (chromium through playwright-core) at authsvc's hosted pages. Each test
// has its own browser context (its own cookies: one person's browser) and its own user; the apps' redirect
// URIs are a loopback listener the browser really lands on. Run by test_browser.py, which starts the server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import {
  as, authRequest, callbackError, finish, issuer, landedOn, launch, listen, promptNone, refresh, screenshot,
  signIn, signInThroughThePage, userinfo, verifyAccessToken, world,
} from './lib.mjs';

let browser, listener;
before(async () => {
  browser = await launch();
  listener = await listen();
});
after(async () => {
  await browser?.close();
  await listener?.close();
});

async function person(t, options = {}) {
  const context = await browser.newContext(options);
  t.after(() => context.close());
  const page = await context.newPage();
  return { context, page };
}

async function sessionCookie(context) {
  return (await context.cookies(issuer)).find((c) => c.name === 'authsvc-session');
}

test('the whole flow: authorize, the sign-in page, the code at the app, the exchange with PKCE', async (t) => {
  const { context, page } = await person(t, { viewport: { width: 1280, height: 800 } });
  const request = await authRequest('web', listener.url('/cb'), { scope: 'openid profile read' });
  const response = await page.goto(request.url);
  assert.equal(response.status(), 200);
  assert.equal(await page.title(), 'Sign in');
  await assert.doesNotReject(page.getByRole('heading', { name: 'Sign in' }).waitFor());
  assert.match(await page.locator('.for').innerText(), /to continue to Web App/);
  // keyboard: the username has the focus, then the password, then the button
  assert.equal(await page.evaluate(() => document.activeElement.id), 'username');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'password');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Sign in');
  await screenshot(page, 'login-page');
  await page.setViewportSize({ width: 360, height: 640 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 360), 'no sideways scrolling on a phone');
  await screenshot(page, 'login-page-mobile');
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'login-page-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  const before = listener.hits.length;
  await signInThroughThePage(page, 'alice', world.users.alice);
  const hit = await landedOn(page, listener, '/cb');
  assert.equal(listener.hits.length, before + 1, 'one landing');
  assert.equal(hit.searchParams.get('iss'), issuer, 'RFC 9207 iss');
  assert.equal(hit.searchParams.get('state'), request.state);
  const { tokens, claims } = await finish(request, hit);
  assert.equal(claims.aud, 'web');
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.scope, 'openid profile read');
  assert.ok(tokens.refresh_token, 'a refresh token');
  const access = await verifyAccessToken(tokens.access_token, world.audience);
  assert.equal(access.sub, claims.sub);
  assert.equal(access.client_id, 'web');
  const info = await userinfo('web', tokens.access_token, claims.sub);
  assert.equal(info.preferred_username, 'alice');
  const cookie = await sessionCookie(context);
  assert.ok(cookie, 'an SSO session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  // a code is good once
  await assert.rejects(finish(request, hit), (e) => e instanceof oauth.ResponseBodyError && e.error === 'invalid_grant');
});

test('SSO: a second client gets its code without the form, in the same session', async (t) => {
  const { page } = await person(t);
  const first = await signIn(page, listener, 'web', 'bob');
  // the portal (a confidential client: client_secret_basic) in the same browser
  const request = await authRequest('portal', listener.url('/portal/cb'));
  const pages = [];
  page.on('response', (r) => {
    if (r.url().startsWith(issuer) && r.status() === 200) pages.push(r.url());
  });
  await page.goto(request.url);
  const hit = await landedOn(page, listener, '/portal/cb');
  assert.deepEqual(pages, [], 'no page of authsvc was shown');
  const second = await finish(request, hit);
  assert.equal(second.claims.aud, 'portal');
  assert.equal(second.claims.sub, first.claims.sub);
  assert.equal(second.claims.sid, first.claims.sid, 'one session');
  assert.equal(second.claims.auth_time, first.claims.auth_time, 'no new authentication');
});

test('prompt=none: login_required without a session, a code with one', async (t) => {
  const { page } = await person(t);
  let { request, hit } = await promptNone(page, listener);
  assert.equal(await callbackError(request, hit), 'login_required');
  assert.equal(hit.searchParams.get('code'), null);
  await signIn(page, listener, 'web', 'carol');
  ({ request, hit } = await promptNone(page, listener));
  const { claims } = await finish(request, hit);
  assert.equal(claims.aud, 'web');
});

test('logout: RP-initiated with id_token_hint and post_logout_redirect_uri; then prompt=none fails', async (t) => {
  const { context, page } = await person(t);
  const { tokens } = await signIn(page, listener, 'web', 'dave');
  const end = new URL((await as()).end_session_endpoint);
  end.searchParams.set('id_token_hint', tokens.id_token);
  end.searchParams.set('post_logout_redirect_uri', listener.url('/signed-out'));
  end.searchParams.set('state', 'bye-123');
  await page.goto(end.href);
  const hit = await landedOn(page, listener, '/signed-out');
  assert.equal(hit.searchParams.get('state'), 'bye-123');
  assert.equal(await sessionCookie(context), undefined, 'the session cookie is gone');
  const { request, hit: none } = await promptNone(page, listener);
  assert.equal(await callbackError(request, none), 'login_required');
  // the refresh tokens born in that session ended with it
  await assert.rejects(refresh('web', tokens.refresh_token), (e) => e instanceof oauth.ResponseBodyError && e.error === 'invalid_grant');

  // without a hint: a question first, then the signed-out page (no redirect)
  await signIn(page, listener, 'web', 'dave');
  await page.goto(end.origin + end.pathname);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await screenshot(page, 'logout-confirm');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  const again = await promptNone(page, listener);
  assert.equal(await callbackError(again.request, again.hit), 'login_required');
});

test('a password change (/account/password) ends the sessions', async (t) => {
  const laptop = await person(t);
  const phone = await person(t);
  const { tokens } = await signIn(laptop.page, listener, 'web', 'erin');
  await signIn(phone.page, listener, 'web', 'erin');
  const response = await fetch(issuer + '/account/password', {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.access_token}` },
    body: new URLSearchParams({ current_password: world.users.erin, new_password: 'erin-new-password-2' }),
  });
  assert.equal(response.status, 200, await response.text());
  for (const { page } of [phone, laptop]) {
    const { request, hit } = await promptNone(page, listener);
    assert.equal(await callbackError(request, hit), 'login_required');
  }
  // the old password no longer signs in; the new one does
  const request = await authRequest('web', listener.url('/cb'));
  await phone.page.goto(request.url);
  await signInThroughThePage(phone.page, 'erin', world.users.erin);
  await phone.page.getByRole('alert').filter({ hasText: 'incorrect' }).waitFor();
  await signInThroughThePage(phone.page, 'erin', 'erin-new-password-2');
  await finish(request, await landedOn(phone.page, listener, '/cb'));
});

test('a wrong password re-shows the page with an announced error, and no code', async (t) => {
  const { context, page } = await person(t, { viewport: { width: 1280, height: 800 } });
  const request = await authRequest('web', listener.url('/cb'));
  await page.goto(request.url);
  const before = listener.hits.length;
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    signInThroughThePage(page, 'frank', 'not-his-password'),
  ]);
  assert.equal(response.status(), 400);
  const alert = page.getByRole('alert');
  assert.match(await alert.innerText(), /incorrect/i);
  assert.ok(await alert.isVisible());
  assert.equal(await page.getByLabel('Username').inputValue(), 'frank', 'the username stays');
  assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not sent back');
  assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Password').getAttribute('aria-describedby'), 'form-error');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'password', 'the focus is on the password');
  await screenshot(page, 'login-error');
  assert.equal(listener.hits.length, before, 'nothing reached the app');
  assert.equal(await sessionCookie(context), undefined, 'no session');
  // the page's new form works
  await page.getByLabel('Password').fill(world.users.frank);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await finish(request, await landedOn(page, listener, '/cb'));

  // an error page: an unknown client is never redirected to
  const bad = await authRequest('nobody', listener.url('/cb'));
  const shown = await page.goto(bad.url);
  assert.equal(shown.status(), 400);
  assert.ok(await page.getByRole('alert').isVisible());
  await screenshot(page, 'error-page');
});

test('CSRF: a form without its token, or a token replayed, is refused', async (t) => {
  const { context, page } = await person(t);
  const expired = /expired or was already used/;

  // missing: the hidden field removed before the person submits
  let request = await authRequest('web', listener.url('/cb'));
  await page.goto(request.url);
  await page.locator('input[name=csrf_token]').evaluate((input) => input.remove());
  const before = listener.hits.length;
  let [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    signInThroughThePage(page, 'gina', world.users.gina),
  ]);
  assert.equal(response.status(), 400);
  assert.match(await page.getByRole('alert').innerText(), expired);
  assert.equal(listener.hits.length, before);
  assert.equal(await sessionCookie(context), undefined);

  // replayed: the same form, token and browser, once more after a good sign-in
  request = await authRequest('web', listener.url('/cb'));
  await page.goto(request.url);
  const fields = await page.locator('form input[type=hidden]').evaluateAll((inputs) => inputs.map((i) => [i.name, i.value]));
  await signInThroughThePage(page, 'gina', world.users.gina);
  await finish(request, await landedOn(page, listener, '/cb'));
  const landings = listener.hits.length;
  // the replay comes from a page of authsvc's origin (its error page), as the form itself would
  await page.goto(issuer + '/oauth2/authorize');
  [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.evaluate(([all, username, password]) => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = '/oauth2/authorize';
      for (const [name, value] of [...all, ['username', username], ['password', password]]) {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = value;
        form.append(input);
      }
      document.body.append(form);
      form.submit();
    }, [fields, 'gina', world.users.gina]),
  ]);
  assert.equal(response.status(), 400);
  await page.waitForLoadState();
  assert.match(await page.getByRole('alert').innerText(), expired);
  assert.equal(listener.hits.length, landings, 'no second code');
});

test('consent: a --consent client asks once; Deny is access_denied', async (t) => {
  const { page } = await person(t, { viewport: { width: 1280, height: 800 } });
  let request = await authRequest('third', listener.url('/cb'), { scope: 'openid read' });
  await page.goto(request.url);
  await signInThroughThePage(page, 'hank', world.users.hank);
  await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
  const text = await page.locator('main').innerText();
  assert.match(text, /Third Party/);
  assert.match(text, /read/);
  assert.match(text, /Signed in as hank/);
  await screenshot(page, 'consent');
  await page.getByRole('button', { name: 'Allow' }).click();
  const { tokens } = await finish(request, await landedOn(page, listener, '/cb'));
  assert.equal(tokens.scope, 'openid read');
  // approved once: the next request gets its code without a page
  request = await authRequest('third', listener.url('/cb'), { scope: 'openid read' });
  await page.goto(request.url);
  await finish(request, await landedOn(page, listener, '/cb'));
  // asked again (prompt=consent), the person says no
  request = await authRequest('third', listener.url('/cb'), { scope: 'openid', prompt: 'consent' });
  await page.goto(request.url);
  await page.getByRole('button', { name: 'Deny' }).click();
  assert.equal(await callbackError(request, await landedOn(page, listener, '/cb')), 'access_denied');
});
