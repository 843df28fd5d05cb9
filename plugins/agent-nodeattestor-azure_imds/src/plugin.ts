/**
 * The agent NodeAttestor `azure_imds` (SPIRE's pkg/agent/plugin/nodeattestor/azureimds):
 * sends a placeholder payload, receives the server's nonce as a challenge,
 * fetches the IMDS attested document for that nonce
 * (`/metadata/attested/document`, a PKCS#7 blob signed by Azure) and the
 * compute metadata (for the scale set name), and answers SPIRE's
 * `{"document": {"encoding", "signature"}, "metadata": {"agentDomain", "vmssName"}}`.
 *
 * `plugin_data`: SPIRE's `tenant_domain`; `imds_endpoint` (spire-ts only,
 * for tests and proxies) replaces the link-local IMDS address.
 */
import {
  PluginError,
  s,
  schemaConfig,
  type BuiltConfig,
  type Logger,
  type PluginDefinition,
  type ServiceImpl,
} from '@spire-ts/plugin-sdk';
import { nextChallenge, runAidAttestation } from '@spire-ts/nodeattestor-kit';

export const AGENT_NODE_ATTESTOR_SERVICE = 'spire.plugin.agent.nodeattestor.v1.NodeAttestor';
export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';
/** SPIRE's first payload: only there so the server can send its nonce. */
export const INITIAL_PAYLOAD = 'non_empty_payload';

const API_VERSION = '2025-04-07';
const TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 60 * 1024;
/** The server's nonce: SPIRE sends 32 alphanumerics; IMDS accepts at most 32 characters. */
const NONCE = /^[A-Za-z0-9]{1,32}$/;

function httpUrl(v: string): string | undefined {
  if (v === '') return undefined;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : 'must be an http(s) URL';
  } catch {
    return 'must be an http(s) URL';
  }
}

const configSchema = s.object({
  tenant_domain: s.string({ required: true, nonEmpty: true }),
  imds_endpoint: s.string({ default: '', check: httpUrl }),
});

export interface AzureImdsAgentConfig {
  tenant_domain: string;
  imds_endpoint: string;
}

/** SPIRE's `AttestedDocument`. */
export interface AttestedDocument {
  encoding: string;
  signature: string;
}

type Impl = ServiceImpl<typeof AGENT_NODE_ATTESTOR_SERVICE>;
type Call = Parameters<NonNullable<Impl['AidAttestation']>>[0];

async function imdsGet(endpoint: string, path: string, params: Record<string, string>): Promise<Record<string, unknown>> {
  const url = new URL(path, `${(endpoint || DEFAULT_IMDS_ENDPOINT).replace(/\/+$/, '')}/`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const where = `${url.origin}${url.pathname}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { Metadata: 'true' }, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new Error(`${where}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_RESPONSE_BYTES) throw new Error(`${where}: response of ${body.length} bytes exceeds ${MAX_RESPONSE_BYTES}`);
  const text = body.toString('utf8');
  if (res.status !== 200) throw new Error(`unexpected status code ${res.status}: ${text.slice(0, 1024)}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`unable to decode response: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('unable to decode response: not a JSON object');
  return v as Record<string, unknown>;
}

/** The attested document for `nonce`. */
export async function fetchAttestedDocument(endpoint: string, nonce: string): Promise<AttestedDocument> {
  const doc = await imdsGet(endpoint, '/metadata/attested/document', { nonce, 'api-version': API_VERSION });
  if (typeof doc.encoding !== 'string' || doc.encoding === '') throw new Error('response missing encoding');
  if (typeof doc.signature !== 'string' || doc.signature === '') throw new Error('response missing signature');
  return { encoding: doc.encoding, signature: doc.signature };
}

/** The scale set name of this VM, if it belongs to one (SPIRE also requires name, subscription and resource group). */
export async function fetchComputeMetadata(endpoint: string): Promise<{ vmScaleSetName: string }> {
  const md = await imdsGet(endpoint, '/metadata/instance', { 'api-version': API_VERSION, format: 'json' });
  const compute = (md.compute ?? {}) as Record<string, unknown>;
  const str = (k: string): string => (typeof compute[k] === 'string' ? (compute[k] as string) : '');
  if (!str('name')) throw new Error('response missing instance name');
  if (!str('subscriptionId')) throw new Error('response missing instance subscription id');
  if (!str('resourceGroupName')) throw new Error('response missing instance resource group name');
  return { vmScaleSetName: str('vmScaleSetName') };
}

/** The first message from the host: the challenge (the nonce). */
async function nextNonce(call: Call): Promise<string> {
  const challenge = await nextChallenge(call, () => PluginError.invalidArgument('the server ended the attestation without sending a nonce'));
  const nonce = Buffer.from(challenge).toString('utf8');
  if (!NONCE.test(nonce)) throw PluginError.invalidArgument('the server sent a challenge that is not an azure_imds nonce (1 to 32 letters and digits)');
  return nonce;
}

export function azureImdsAgentPlugin(opts: { log?: Logger } = {}): PluginDefinition<typeof AGENT_NODE_ATTESTOR_SERVICE, BuiltConfig<AzureImdsAgentConfig>> {
  let config: AzureImdsAgentConfig | undefined;
  const impl: Impl = {
    AidAttestation: (call: Call) => {
      runAidAttestation(
        call,
        async () => {
          const c = config;
          if (!c) throw PluginError.failedPrecondition('not configured');
          const challenge = nextNonce(call);
          call.write({ payload: Buffer.from(INITIAL_PAYLOAD, 'utf8') });
          const nonce = await challenge;
          let document: AttestedDocument;
          try {
            document = await fetchAttestedDocument(c.imds_endpoint, nonce);
          } catch (err) {
            throw PluginError.internal(`unable to fetch attested document: ${(err as Error).message}`);
          }
          let vmss: string;
          try {
            vmss = (await fetchComputeMetadata(c.imds_endpoint)).vmScaleSetName;
          } catch (err) {
            throw PluginError.internal(`unable to fetch compute metadata: ${(err as Error).message}`);
          }
          const payload = { document, metadata: { agentDomain: c.tenant_domain, vmssName: vmss || null } };
          call.write({ challenge_response: Buffer.from(JSON.stringify(payload), 'utf8') });
          call.end();
        },
        (err) => opts.log?.error('azure_imds attestation failed', { error: (err as Error).message }),
      );
    },
  };
  return {
    service: AGENT_NODE_ATTESTOR_SERVICE,
    impl,
    config: schemaConfig(configSchema, { apply: ({ value }) => void (config = { ...value }) }),
  };
}
