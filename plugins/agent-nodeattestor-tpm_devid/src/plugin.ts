/**
 * The agent NodeAttestor `tpm_devid` (SPIRE's pkg/agent/plugin/nodeattestor/tpmdevid):
 * presents the node's DevID certificate chain with proof that its key lives
 * in the same TPM as a genuine endorsement key, then answers the server's
 * two challenges: a nonce signed with the DevID key (proof of possession)
 * and a credential activated with the attestation key and EK (proof of
 * residency). The TPM is driven through tpm2-tools; `tpm_device_path` (or
 * the autodetected /dev/tpmrm<N>, /dev/tpm<N>) becomes the TCTI
 * `device:<path>`, and the spire-ts extension `tcti` names any other TCTI
 * (e.g. a software TPM: `swtpm:host=127.0.0.1,port=2321`).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  PluginError,
  s,
  schemaConfig,
  type BuiltConfig,
  type Infer,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { nextChallenge, pemCertificates, runAidAttestation } from '@spire-ts/nodeattestor-kit';
import { TpmSession, type TpmPasswords } from './session.js';
import { attestationRequest, challengeResponse, parseChallenge } from './wire.js';

export const NODE_ATTESTOR_SERVICE = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';
/** Where SPIRE looks for a TPM when `tpm_device_path` is not set. */
export const BASE_TPM_DIR = '/dev';
/** The largest certificate or key blob file read. */
const MAX_FILE_BYTES = 1 << 20;

type Impl = ServiceImpl<typeof NODE_ATTESTOR_SERVICE>;
type AidCall = Parameters<NonNullable<Impl['AidAttestation']>>[0];

export const configSchema = s.object({
  devid_cert_path: s.string({ default: '' }),
  devid_priv_path: s.string({ default: '' }),
  devid_pub_path: s.string({ default: '' }),
  devid_password: s.string({ default: '' }),
  owner_hierarchy_password: s.string({ default: '' }),
  endorsement_hierarchy_password: s.string({ default: '' }),
  tpm_device_path: s.string({ default: '' }),
  /** spire-ts extension: a tpm2-tools TCTI, instead of a device path. */
  tcti: s.string({ default: '' }),
});
export type TpmDevIdAgentConfig = Infer<typeof configSchema>;

function checkConfig(c: TpmDevIdAgentConfig): void {
  const missing: string[] = [];
  if (c.devid_cert_path === '') missing.push('invalid configuration: devid_cert_path is required');
  if (c.devid_priv_path === '') missing.push('invalid configuration: devid_priv_path is required');
  if (c.devid_pub_path === '') missing.push('invalid configuration: devid_pub_path is required');
  if (c.tcti !== '' && c.tpm_device_path !== '') missing.push('invalid configuration: tcti and tpm_device_path are mutually exclusive');
  if (c.tcti !== '' && !/^[a-z][a-z0-9_-]*(?::.*)?$/i.test(c.tcti)) missing.push(`invalid configuration: tcti ${JSON.stringify(c.tcti)} is not of the form <name>[:<conf>]`);
  if (missing.length > 0) throw PluginError.invalidArgument(missing.join('; '));
}

/** SPIRE's autodetection: the single /dev/tpmrm<N>, else the single /dev/tpm<N>. */
export async function autodetectTpmPath(baseDir = BASE_TPM_DIR): Promise<string> {
  const names = await readdir(baseDir);
  for (const re of [/tpmrm\d+$/, /tpm\d+$/]) {
    const found = names.filter((n) => re.test(n));
    if (found.length > 1) throw new Error('more than one possible TPM device was found');
    if (found.length === 1) return join(baseDir, found[0]!);
  }
  throw new Error('not found');
}

/** The tpm2-tools TCTI for a configuration (after autodetection). */
export function tctiFor(c: { tcti: string; tpm_device_path: string }): string {
  return c.tcti !== '' ? c.tcti : `device:${c.tpm_device_path}`;
}

async function readSmall(path: string): Promise<Buffer> {
  const data = await readFile(path);
  if (data.length > MAX_FILE_BYTES) throw new Error(`${path} is ${data.length} bytes, larger than ${MAX_FILE_BYTES}`);
  return data;
}


interface Loaded {
  readonly tcti: string;
  readonly devIdCerts: Uint8Array[];
  readonly devIdPub: Uint8Array;
  readonly devIdPriv: Uint8Array;
  readonly passwords: TpmPasswords;
}

async function load(c: TpmDevIdAgentConfig): Promise<Loaded> {
  let devicePath = c.tpm_device_path;
  if (c.tcti === '' && devicePath === '') {
    try {
      devicePath = await autodetectTpmPath();
    } catch (err) {
      throw PluginError.internal(`tpm autodetection failed: ${(err as Error).message}`);
    }
  }
  try {
    let devIdCerts: Uint8Array[];
    try {
      devIdCerts = pemCertificates((await readSmall(c.devid_cert_path)).toString('utf8'), c.devid_cert_path);
    } catch (err) {
      throw new Error(`cannot load certificate(s): ${(err as Error).message}`);
    }
    let devIdPriv: Buffer;
    try {
      devIdPriv = await readSmall(c.devid_priv_path);
    } catch (err) {
      throw new Error(`cannot load private key: ${(err as Error).message}`);
    }
    let devIdPub: Buffer;
    try {
      devIdPub = await readSmall(c.devid_pub_path);
    } catch (err) {
      throw new Error(`cannot load public key: ${(err as Error).message}`);
    }
    return {
      tcti: tctiFor({ tcti: c.tcti, tpm_device_path: devicePath }),
      devIdCerts,
      devIdPub,
      devIdPriv,
      passwords: { devIdKey: c.devid_password, ownerHierarchy: c.owner_hierarchy_password, endorsementHierarchy: c.endorsement_hierarchy_password },
    };
  } catch (err) {
    throw PluginError.internal(`unable to load DevID files: ${(err as Error).message}`);
  }
}

export function tpmDevIdAgentPlugin(opts: { log?: Logger; timeoutMs?: number } = {}): PluginDefinition<typeof NODE_ATTESTOR_SERVICE, BuiltConfig<TpmDevIdAgentConfig>> {
  let loaded: Loaded | undefined;
  let checked: { value: TpmDevIdAgentConfig; loaded: Loaded } | undefined;
  const impl: Impl = {
    AidAttestation: (call: AidCall) => {
      runAidAttestation(
        call,
        async () => {
          const conf = loaded;
          if (!conf) throw PluginError.failedPrecondition('not configured');
          const challengeP = nextChallenge(call, () => PluginError.internal('unable to receive challenges: the stream ended before the server challenge'));
          // A failure before the challenge arrives must not leave its promise unhandled.
          challengeP.catch(() => undefined);
          await TpmSession.run({ tcti: conf.tcti, devIdPub: conf.devIdPub, devIdPriv: conf.devIdPriv, passwords: conf.passwords, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) }, async (tpm) => {
            let data;
            try {
              data = await tpm.attestationData();
            } catch (err) {
              const msg = (err as Error).message;
              if (msg.startsWith('failed to read NV index')) throw PluginError.internal(`unable to get endorsement certificate: ${msg}`);
              throw PluginError.internal(msg);
            }
            call.write({ payload: attestationRequest(conf.devIdCerts, data) });
            let challenge;
            try {
              challenge = parseChallenge(await challengeP);
            } catch (err) {
              if (err instanceof PluginError) throw err;
              throw PluginError.invalidArgument(`unable to unmarshall challenges: ${(err as Error).message}`);
            }
            let devIdResp: Uint8Array;
            try {
              devIdResp = await tpm.solveDevIdChallenge(challenge.devId);
            } catch (err) {
              throw PluginError.internal(`unable to solve proof of possession challenge: ${(err as Error).message}`);
            }
            if (!challenge.credActivation) throw PluginError.internal('received empty credential activation challenge from server');
            let credResp: Uint8Array;
            try {
              credResp = await tpm.solveCredActivationChallenge(challenge.credActivation.credential, challenge.credActivation.secret);
            } catch (err) {
              throw PluginError.internal(`unable to solve proof of residency challenge: ${(err as Error).message}`);
            }
            call.write({ challenge_response: challengeResponse(devIdResp, credResp) });
          }).catch((err: unknown) => {
            if (err instanceof PluginError) throw err;
            throw PluginError.internal(`unable to start a new TPM session: ${(err as Error).message}`);
          });
          call.end();
        },
        (err) => opts.log?.error('tpm_devid attestation failed', { error: (err as Error).message }),
      );
    },
  };
  return {
    service: NODE_ATTESTOR_SERVICE,
    impl,
    config: schemaConfig(configSchema, {
      // The DevID files are read on Validate too, so `spire-agent validate` reports what Configure would refuse.
      check: async (value) => {
        checkConfig(value);
        checked = { value, loaded: await load(value) };
      },
      // Configure runs check then apply on the same value: the files are read once.
      apply: async ({ value }) => {
        loaded = checked?.value === value ? checked.loaded : await load(value);
        checked = undefined;
      },
    }),
  };
}
