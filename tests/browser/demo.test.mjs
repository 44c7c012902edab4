// deploy/demo-web, the demo browser app of deploy/run, as a newcomer uses it: open its address, "Sign in",
// type the password at authsvc's page, come back to the demo's callback and see who you are; then sign out.
// test_browser.py starts demo-web against the test server and passes its address as world.demo.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { as, issuer, launch, screenshot, signInThroughThePage, world } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function person(t) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.after(() => context.close());
  return { context, page: await context.newPage() };
}

test('sign in through the demo app, call userinfo, sign out', async (t) => {
  const { page } = await person(t);
  const demo = world.demo;
  await page.goto(demo);
  await screenshot(page, 'demo-start');
  const callbacks = [];
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.url().startsWith(new URL('/demo/callback', demo).href)) callbacks.push(new URL(r.url()));
  });
  const authorize = (await as()).authorization_endpoint;
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.href.startsWith(authorize));
  assert.match(await page.locator('.for').innerText(), /authsvc demo/, 'the sign-in page names the app');
  await signInThroughThePage(page, 'demo', world.users.demo);
  await page.getByText('Signed in as').waitFor();
  // the browser went through the demo's callback with a code, state and iss
  assert.equal(callbacks.length, 1, callbacks.join(' '));
  assert.ok(callbacks[0].searchParams.get('code'));
  assert.ok(callbacks[0].searchParams.get('state'));
  assert.equal(callbacks[0].searchParams.get('iss'), issuer);
  assert.equal(page.url(), demo, 'then back to the demo\'s page (the code is not reloaded)');
  assert.equal(await page.locator('#user').innerText(), 'demo');
  assert.match(await page.locator('.ok').innerText(), /signature verified/);
  const claims = await page.locator('#claims').innerText();
  for (const claim of ['iss', 'sub', 'aud', 'nonce', 'sid', 'at_hash']) assert.match(claims, new RegExp(`^${claim}$`, 'm'));
  assert.match(claims, /"demo-web"/);
  assert.match(await page.locator('#expiry').innerText(), /UTC \(in \d+ s\)/);
  const info = JSON.parse(await page.locator('#userinfo').innerText());
  assert.equal(info.preferred_username, 'demo');
  await screenshot(page, 'demo-signed-in');
  await page.getByRole('button', { name: 'Call userinfo' }).click();
  await page.getByText('Signed in as').waitFor();
  assert.equal(JSON.parse(await page.locator('#userinfo').innerText()).sub, info.sub);

  // Sign out: authsvc's end_session_endpoint with the id_token as hint, straight back to the demo
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('You are signed out').waitFor();
  assert.equal(page.url(), demo);
  // and the SSO session is gone: signing in again asks for the password
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Password').waitFor();
  assert.ok(page.url().startsWith(issuer));
});

test('the demo shows errors plainly: a state it did not send, an error from authsvc', async (t) => {
  const { page } = await person(t);
  let response = await page.goto(new URL('/demo/callback?code=abc&state=forged', world.demo).href);
  assert.equal(response.status(), 400);
  assert.equal(await page.getByRole('heading').innerText(), 'State mismatch');
  await screenshot(page, 'demo-error');
  // an error answer to this browser's own sign-in (as authsvc sends access_denied when a person denies consent)
  await page.goto(world.demo);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Password').waitFor();
  const authorize = new URL(page.url());
  const back = new URL('/demo/callback', world.demo);
  back.searchParams.set('error', 'access_denied');
  back.searchParams.set('error_description', 'the user said no');
  back.searchParams.set('state', authorize.searchParams.get('state'));
  response = await page.goto(back.href);
  assert.equal(response.status(), 400);
  assert.equal(await page.getByRole('heading').innerText(), 'Access denied');
  assert.match(await page.getByRole('alert').innerText(), /access_denied: the user said no/);
});
