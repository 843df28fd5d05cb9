// The kit's Azure client against small local servers: response caps,
// timeouts, error bodies, nextLink confinement and token caching/refresh.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { azure } from '../src/index.js';

const servers: ReturnType<typeof createServer>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, base: string) => void): Promise<string> {
  const server = createServer((req, res) => handler(req, res, base()));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = (): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return base();
}

const staticCred = (token = 't'): azure.TokenCredential => ({ description: 'static', getToken: () => Promise.resolve(token) });

describe('requestJson', () => {
  it('caps the response size, declared or streamed', async () => {
    const url = await serve((req, res) => {
      if (req.url === '/declared') res.writeHead(200, { 'content-length': '5000' }).end('x'.repeat(5000));
      else {
        res.writeHead(200);
        res.write('{"a":"');
        res.end(`${'y'.repeat(5000)}"}`);
      }
    });
    await expect(azure.requestJson(`${url}declared`, { what: 'get' }, { maxResponseBytes: 1000 })).rejects.toThrow('get: response larger than 1000 bytes');
    await expect(azure.requestJson(`${url}streamed`, { what: 'get' }, { maxResponseBytes: 1000 })).rejects.toThrow('get: response larger than 1000 bytes');
  });
  it('times out', async () => {
    const url = await serve(() => undefined);
    await expect(azure.requestJson(url, { what: 'slow' }, { timeoutMs: 200 })).rejects.toThrow('slow: timed out after 200 ms');
  });
  it('reports Resource Manager and Entra error bodies, and non-JSON answers', async () => {
    const url = await serve((req, res) => {
      if (req.url === '/arm') res.writeHead(404).end(JSON.stringify({ error: { code: 'ResourceNotFound', message: 'gone' } }));
      else if (req.url === '/entra') res.writeHead(400).end(JSON.stringify({ error: 'invalid_scope', error_description: 'AADSTS70011: bad scope.\r\nTrace ID: 1' }));
      else if (req.url === '/html') res.writeHead(502).end('<html>Bad Gateway</html>');
      else res.writeHead(200).end('[1,2]');
    });
    await expect(azure.requestJson(`${url}arm`, { what: 'w' })).rejects.toMatchObject({ message: 'w: HTTP 404: ResourceNotFound: gone', status: 404, code: 'ResourceNotFound' });
    await expect(azure.requestJson(`${url}entra`, { what: 'w' })).rejects.toThrow('w: HTTP 400: invalid_scope: AADSTS70011: bad scope.');
    await expect(azure.requestJson(`${url}html`, { what: 'w' })).rejects.toThrow('w: HTTP 502: <html>Bad Gateway</html>');
    await expect(azure.requestJson(`${url}array`, { what: 'w' })).rejects.toThrow('w: response is not a JSON object');
  });
});

describe('ArmClient', () => {
  it('follows nextLink on its own origin only, and at most MAX_PAGES pages', async () => {
    let auth = '';
    const url = await serve((req, res, base) => {
      auth = req.headers.authorization ?? '';
      const u = new URL(req.url ?? '/', base);
      if (u.pathname.includes('/evil/')) res.end(JSON.stringify({ value: [], nextLink: 'http://169.254.169.254/steal' }));
      else if (u.pathname.includes('/loop/')) res.end(JSON.stringify({ value: [{ id: 'x' }], nextLink: `${base}subscriptions/loop/resources?api-version=1` }));
      else if (u.searchParams.get('$skiptoken')) res.end(JSON.stringify({ value: [{ id: 'b' }] }));
      else res.end(JSON.stringify({ value: [{ id: 'a' }], nextLink: `${base}subscriptions/s/resources?$skiptoken=1&api-version=1` }));
    });
    const arm = new azure.ArmClient(url, staticCred('tok'));
    expect(await arm.listResources('s', "name eq 'x'")).toEqual([{ id: 'a' }, { id: 'b' }]);
    expect(auth).toBe('Bearer tok');
    await expect(arm.listResources('evil', 'f')).rejects.toThrow(/nextLink "http:\/\/169\.254\.169\.254" is not on http:\/\/127\.0\.0\.1/);
    await expect(arm.listResources('loop', 'f')).rejects.toThrow(`more than ${azure.MAX_PAGES} pages of results`);
  });
  it('percent-encodes path segments and quotes OData literals', async () => {
    let path = '';
    const url = await serve((req, res) => {
      path = req.url ?? '';
      res.end('{}');
    });
    await new azure.ArmClient(url, staticCred()).getVirtualMachine('s', 'rg', '../x?y');
    expect(path).toBe(`/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/..%2Fx%3Fy?api-version=${azure.API_VERSIONS.compute}`);
    expect(azure.odataQuote("a'b")).toBe("'a''b'");
  });
  it('parses resource IDs case-insensitively in the fixed segments', () => {
    expect(azure.parseVirtualMachineId('/subscriptions/s/resourcegroups/RG/providers/microsoft.compute/virtualMachines/vm')).toEqual({ subscriptionId: 's', resourceGroup: 'RG', name: 'vm' });
    expect(azure.parseSubnetId('/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/n')).toEqual({ subscriptionId: 's', resourceGroup: 'rg', virtualNetwork: 'v', name: 'n' });
    expect(azure.parseNetworkInterfaceId('/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n/extra')).toBeUndefined();
  });
});

describe('credentials', () => {
  it('caches a client-credentials token until five minutes before expiry, sharing one request', async () => {
    const forms: URLSearchParams[] = [];
    const url = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        forms.push(new URLSearchParams(body));
        res.end(JSON.stringify({ token_type: 'Bearer', expires_in: 3600, access_token: `tok-${forms.length}` }));
      });
    });
    let now = 1_000_000;
    const cred = new azure.ClientSecretCredential(url, 'tenant-1', 'app', 's3cret', { now: () => now });
    expect(await Promise.all([cred.getToken(), cred.getToken()])).toEqual(['tok-1', 'tok-1']);
    now += 3600_000 - azure.REFRESH_MARGIN_MS - 1000;
    expect(await cred.getToken()).toBe('tok-1');
    now += 2000;
    expect(await cred.getToken()).toBe('tok-2');
    expect(Object.fromEntries(forms[0]!)).toEqual({ grant_type: 'client_credentials', client_id: 'app', scope: 'https://management.azure.com/.default', client_secret: 's3cret' });
  });
  it('asks IMDS with Metadata: true and reads its string expiry', async () => {
    let seen: IncomingMessage | undefined;
    const url = await serve((req, res) => {
      seen = req;
      res.end(JSON.stringify({ access_token: 'mi', expires_on: String(Math.floor(Date.now() / 1000) + 3600), token_type: 'Bearer' }));
    });
    expect(await new azure.ManagedIdentityCredential(url, 'cid').getToken()).toBe('mi');
    expect(seen?.headers.metadata).toBe('true');
    expect(seen?.url).toBe('/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F&client_id=cid');
  });
  it('picks the default chain\'s credential from the environment', () => {
    const o = { authorityHost: 'https://login.example/', imdsEndpoint: 'http://169.254.169.254/', tenant: 't' };
    expect(azure.defaultAzureCredential({ ...o, env: { AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: 'c', AZURE_CLIENT_SECRET: 's' } })).toBeInstanceOf(azure.ClientSecretCredential);
    expect(azure.defaultAzureCredential({ ...o, env: { AZURE_CLIENT_ID: 'c', AZURE_FEDERATED_TOKEN_FILE: '/f' } })).toBeInstanceOf(azure.ClientAssertionCredential);
    expect(azure.defaultAzureCredential({ ...o, env: {} })).toBeInstanceOf(azure.ManagedIdentityCredential);
  });
});
