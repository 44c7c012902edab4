// What the browser suites share: the world test_browser.py built (AUTHSVC_BROWSER_CONFIG), chromium, a
// loopback listener that stands for the apps' redirect URIs, and an OAuth client made of libraries nobody
// here wrote: oauth4webapi (authorization request, response validation, code exchange, userinfo) and jose
// (the id_token's signature against the JWKS).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { chromium } from 'playwright-core';

export const world = JSON.parse(readFileSync(process.env.AUTHSVC_BROWSER_CONFIG, 'utf8'));
export const issuer = world.issuer;
const insecure = { [oauth.allowInsecureRequests]: true }; // the test server speaks plain http on loopback

export async function launch() {
  return chromium.launch({
    executablePath: process.env.AUTHSVC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // chromium's sandbox needs user namespaces that a root process (CI) may not have
    args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
  });
}

/** A screenshot kept as a test artifact. */
export async function screenshot(page, name) {
  const file = path.join(world.artifacts, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * A loopback HTTP server on an ephemeral port: every request it gets is recorded (the browser really landed
 * there) and answered with a small page.
 */
export async function listen() {
  const hits = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') { // the browser's own request, not an answer of authsvc
      res.writeHead(404).end();
      return;
    }
    hits.push(new URL(req.url, `http://127.0.0.1:${server.address().port}`));
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><title>app</title><p>The app received the answer.</p>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { hits, base, url: (p) => base + p, close: () => new Promise((resolve) => server.close(resolve)) };
}

let metadata;
/** The discovery document, through oauth4webapi (which checks its issuer). */
export async function as() {
  if (!metadata) {
    const url = new URL(issuer);
    metadata = await oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { algorithm: 'oidc', ...insecure }));
  }
  return metadata;
}

export function clientOf(id) {
  const secret = world.clients[id].secret;
  return { client: { client_id: id }, auth: secret ? oauth.ClientSecretBasic(secret) : oauth.None() };
}

/**
 * A fresh authorization request for a client: {url, state, nonce, verifier, redirectUri}.
 * params: more or other query parameters (prompt, scope...).
 */
export async function authRequest(clientId, redirectUri, params = {}) {
  const verifier = oauth.generateRandomCodeVerifier();
  const request = {
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    verifier,
    redirectUri,
    clientId,
  };
  const url = new URL((await as()).authorization_endpoint);
  const q = {
    client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid profile',
    state: request.state, nonce: request.nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  };
  for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
  request.url = url.href;
  return request;
}

/** oauth4webapi's check of an authorization response (state, iss, error): the callback's parameters. */
export async function validateCallback(request, callbackUrl) {
  return oauth.validateAuthResponse(await as(), clientOf(request.clientId).client, new URL(callbackUrl), request.state);
}

/** The code exchange (PKCE verifier, the client's authentication) and its checks, by oauth4webapi. */
export async function exchange(request, callbackParams) {
  const { client, auth } = clientOf(request.clientId);
  const server = await as();
  const response = await oauth.authorizationCodeGrantRequest(server, client, auth, callbackParams, request.redirectUri,
    request.verifier, insecure);
  return oauth.processAuthorizationCodeResponse(server, client, response, { expectedNonce: request.nonce, requireIdToken: true });
}

let jwks;
/**
 * jose's verification of an id_token against the served JWKS (signature, typ, iss, aud, exp), then the
 * OpenID Connect claims a relying party checks: nonce, and at_hash (Core §3.1.3.6) of the access token.
 */
export async function verifyIdToken(idToken, { clientId, nonce, accessToken }) {
  jwks ??= jose.createRemoteJWKSet(new URL((await as()).jwks_uri));
  const { payload, protectedHeader } = await jose.jwtVerify(idToken, jwks, { issuer, audience: clientId, typ: 'JWT' });
  assert.equal(payload.nonce, nonce, 'nonce');
  const digest = createHash('sha256').update(accessToken).digest();
  assert.equal(payload.at_hash, jose.base64url.encode(digest.subarray(0, 16)), 'at_hash');
  for (const claim of ['sub', 'iat', 'exp', 'auth_time', 'sid']) assert.ok(payload[claim] !== undefined, `${claim} missing`);
  assert.ok(['ES256', 'EdDSA', 'RS256'].includes(protectedHeader.alg), protectedHeader.alg);
  return payload;
}

/** jose's verification of an access token (RFC 9068): typ at+jwt, iss, aud. */
export async function verifyAccessToken(accessToken, audience) {
  jwks ??= jose.createRemoteJWKSet(new URL((await as()).jwks_uri));
  const { payload } = await jose.jwtVerify(accessToken, jwks, { issuer, audience, typ: 'at+jwt' });
  return payload;
}

export async function userinfo(clientId, accessToken, sub) {
  const server = await as();
  const { client } = clientOf(clientId);
  const response = await oauth.userInfoRequest(server, client, accessToken, insecure);
  return oauth.processUserInfoResponse(server, client, sub, response);
}

export async function refresh(clientId, refreshToken) {
  const server = await as();
  const { client, auth } = clientOf(clientId);
  const response = await oauth.refreshTokenGrantRequest(server, client, auth, refreshToken, insecure);
  return oauth.processRefreshTokenResponse(server, client, response);
}

/** At authsvc's sign-in page, the person types a name and a password (found by their labels) and presses the button. */
export async function signInThroughThePage(page, username, password) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Waits until the browser's address is on the listener, and returns that address (as the listener saw it). */
export async function landedOn(page, listener, pathname) {
  await page.waitForURL((u) => u.href.startsWith(listener.url(pathname)));
  const hit = listener.hits.at(-1);
  assert.ok(hit, 'the listener saw no request');
  assert.equal(hit.href, page.url(), 'the listener got what the browser shows');
  return hit;
}

/** The whole sign-in through the page: returns {request, callback, tokens, claims}. */
export async function signIn(page, listener, clientId, username, params = {}) {
  const request = await authRequest(clientId, listener.url('/cb'), params);
  await page.goto(request.url);
  await signInThroughThePage(page, username, world.users[username]);
  const hit = await landedOn(page, listener, '/cb');
  return finish(request, hit);
}

/** From a callback address to verified tokens. */
export async function finish(request, callbackUrl) {
  const callback = await validateCallback(request, callbackUrl);
  const tokens = await exchange(request, callback);
  const claims = await verifyIdToken(tokens.id_token, { clientId: request.clientId, nonce: request.nonce, accessToken: tokens.access_token });
  return { request, callback, tokens, claims };
}

/** authorize with prompt=none: where the browser ends up (the listener's record of it). */
export async function promptNone(page, listener, clientId = 'web') {
  const request = await authRequest(clientId, listener.url('/cb'), { prompt: 'none' });
  const before = listener.hits.length;
  await page.goto(request.url);
  const hit = await landedOn(page, listener, '/cb');
  assert.equal(listener.hits.length, before + 1);
  return { request, hit };
}

/** The error= of a callback, after oauth4webapi checked state and iss (it throws on an error response). */
export async function callbackError(request, hit) {
  try {
    await validateCallback(request, hit);
  } catch (e) {
    assert.ok(e instanceof oauth.AuthorizationResponseError, `${e}`);
    return e.error;
  }
  assert.fail(`expected an error response, got ${hit}`);
}
