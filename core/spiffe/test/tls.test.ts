// Real TLS handshakes (node:tls) with openssl-made SVIDs of two federated
// trust domains: a certificate that OpenSSL accepts (it chains to a trusted
// authority) but whose SPIFFE ID belongs to the other trust domain is
// refused, on both the client and the server side.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { X509Bundle, X509BundleSet, authorizeAny, authorizeId, createTlsServer, parseX509Svid, tlsClientOptions, type X509TlsSource } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'spiffe-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const openssl = (...args: string[]): Buffer => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

function make(name: string, uri: string, issuer?: string): void {
  const ca = !issuer;
  writeFileSync(join(dir, `${name}.ext`), `basicConstraints=critical,CA:${ca ? 'TRUE' : 'FALSE'}\nkeyUsage=critical,${ca ? 'keyCertSign' : 'digitalSignature,keyEncipherment'}\n${ca ? '' : 'extendedKeyUsage=serverAuth,clientAuth\n'}subjectAltName=URI:${uri}\n`);
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  const signer = issuer ? ['-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial'] : ['-signkey', `${name}.key`];
  openssl('x509', '-req', '-in', `${name}.csr`, ...signer, '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`, '-outform', 'DER');
}

make('ca', 'spiffe://example.org');
make('otherca', 'spiffe://other.org');
make('server', 'spiffe://example.org/server', 'ca');
make('client', 'spiffe://example.org/client', 'ca');
make('forged', 'spiffe://example.org/client', 'otherca');
make('partner', 'spiffe://other.org/partner', 'otherca');
const bundles = new X509BundleSet([X509Bundle.fromDer('example.org', readFileSync(join(dir, 'ca.pem'))), X509Bundle.fromDer('other.org', readFileSync(join(dir, 'otherca.pem')))]);

function source(name: string): X509TlsSource {
  const svid = parseX509Svid(readFileSync(join(dir, `${name}.pem`)), openssl('pkcs8', '-topk8', '-nocrypt', '-in', `${name}.key`, '-outform', 'DER'));
  return { getX509Svid: () => svid, getX509Bundles: () => bundles.bundles(), getX509Bundle: (td) => bundles.getX509Bundle(td), on: () => () => undefined };
}

async function exchange(serverAuth: ReturnType<typeof authorizeId>, client: string, clientAuth = authorizeId('spiffe://example.org/server')): Promise<{ reply?: string; clientError?: string; serverError?: string }> {
  let serverError: string | undefined;
  const server = createTlsServer(source('server'), serverAuth, (s) => s.end('hello'));
  server.on('tlsClientError', (e: Error) => (serverError ??= e.message));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as { port: number }).port;
    const out = await new Promise<{ reply?: string; clientError?: string }>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, ...tlsClientOptions(source(client), clientAuth) });
      let data = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (data += d));
      s.on('end', () => resolve(data ? { reply: data } : { clientError: 'closed without data' }));
      s.on('error', (e) => resolve({ clientError: e.message }));
    });
    await new Promise((r) => setTimeout(r, 50));
    return { ...out, ...(serverError ? { serverError } : {}) };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('SPIFFE mTLS over node:tls (federated bundles)', () => {
  it('completes a handshake between authorised peers', async () => {
    expect(await exchange(authorizeId('spiffe://example.org/client'), 'client')).toEqual({ reply: 'hello' });
    expect(await exchange(authorizeAny(), 'partner')).toEqual({ reply: 'hello' });
  });

  it('the server refuses a client whose ID claims a trust domain whose bundle did not issue it', async () => {
    const r = await exchange(authorizeAny(), 'forged');
    expect(r.reply).toBeUndefined();
    expect(r.serverError).toBe('x509svid: could not verify "spiffe://example.org/client": certificate signed by unknown authority (not chained to the "example.org" bundle)');
  });

  it('the server refuses an authenticated client the authorizer rejects', async () => {
    const r = await exchange(authorizeId('spiffe://example.org/client'), 'partner');
    expect(r.reply).toBeUndefined();
    expect(r.serverError).toBe('unexpected ID "spiffe://other.org/partner": expected "spiffe://example.org/client"');
  });

  it('the client refuses a server with another SPIFFE ID, whatever the hostname', async () => {
    const r = await exchange(authorizeAny(), 'client', authorizeId('spiffe://example.org/db'));
    expect(r.clientError).toBe('unexpected ID "spiffe://example.org/server": expected "spiffe://example.org/db"');
  });
});
