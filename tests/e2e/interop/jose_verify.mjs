// jose_verify.mjs — verifies JWTs with npm's `jose` (panva/jose), a library nobody here wrote.
// Run by tests/e2e/test_interop.py with `node`; jose comes from tests/e2e/node_modules (`npm ci --prefix tests/e2e`).
//
// stdin: {"jwks_uri": URL, "issuer": ISS, "cases": [{"token", "audience", "algorithms", "typ"}, ...]}
// stdout: one JSON array, one entry per case, in order:
//   {"ok": true, "header": {...}, "payload": {...}}  or  {"ok": false, "code": "ERR_...", "message": "..."}
//
// The keys come from the server's JWKS over HTTP (createRemoteJWKSet: jose's own fetch and cache), selected by
// the token's kid and alg; jwtVerify checks the signature, the allowed algorithms, typ, iss, aud, exp and nbf.
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const input = await readStdin();
const jwks = createRemoteJWKSet(new URL(input.jwks_uri), { timeoutDuration: 15000, cooldownDuration: 0 });
const results = [];
for (const c of input.cases) {
  try {
    const { payload, protectedHeader } = await jwtVerify(c.token, jwks, {
      issuer: input.issuer,
      audience: c.audience,
      algorithms: c.algorithms,
      typ: c.typ,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti'],
    });
    results.push({ ok: true, header: protectedHeader, payload });
  } catch (e) {
    let header = null;
    try {
      header = decodeProtectedHeader(c.token);
    } catch {
      // not even a JWS: the code says so
    }
    results.push({ ok: false, code: e.code || e.name, message: String(e.message), header });
  }
}
process.stdout.write(JSON.stringify(results) + '\n');
