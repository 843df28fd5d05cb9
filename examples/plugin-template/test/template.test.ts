// Pins the template's behaviour: every RPC of the service answers
// UNIMPLEMENTED until you write it, and the config schema refuses unknown keys.
// When you implement an RPC, replace its case here with real tests.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@spire-ts/proto';
import { Status, startPluginServer, type PluginServer } from '@spire-ts/plugin-sdk';
import { templatePlugin } from '../src/plugin.js';

let srv: PluginServer;
let km: ReturnType<typeof createClient<'spire.plugin.server.keymanager.v1.KeyManager'>>;
let config: ReturnType<typeof createClient<'spire.service.common.config.v1.Config'>>;

beforeAll(async () => {
  srv = await startPluginServer(templatePlugin());
  km = createClient('spire.plugin.server.keymanager.v1.KeyManager', srv.target, grpc.credentials.createInsecure());
  config = createClient('spire.service.common.config.v1.Config', srv.target, grpc.credentials.createInsecure());
});
afterAll(async () => {
  km.close();
  config.close();
  await srv.close();
});

function codeOf(call: (cb: (err: grpc.ServiceError | null) => void) => void): Promise<number> {
  return new Promise((resolve) => call((err) => resolve(err ? err.code : Status.OK)));
}

describe('plugin template', () => {
  it.each(['GenerateKey', 'GetPublicKey', 'GetPublicKeys', 'SignData'] as const)('%s is UNIMPLEMENTED', async (method) => {
    const fn = km[method].bind(km) as (req: object, cb: (err: grpc.ServiceError | null) => void) => void;
    expect(await codeOf((cb) => fn({}, cb))).toBe(Status.UNIMPLEMENTED);
  });

  it('accepts its own keys and refuses unknown ones by name', async () => {
    const req = (hcl: string) => ({ core_configuration: { trust_domain: 'example.org' }, hcl_configuration: hcl });
    expect(await codeOf((cb) => config.Configure(req('greeting = "hi"'), cb))).toBe(Status.OK);
    const err = await new Promise<grpc.ServiceError | null>((r) => config.Configure(req('nope = 1'), (e) => r(e)));
    expect(err?.code).toBe(Status.INVALID_ARGUMENT);
    expect(err?.details).toContain('unknown key "nope"');
  });
});
