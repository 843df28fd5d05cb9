/**
 * The server tpm_devid `plugin_data`, SPIRE's keys: `devid_ca_path` (the
 * DevID CA bundle) and `endorsement_ca_path` (the TPM manufacturers' CA
 * bundle), both required PEM files. Every problem is reported together as
 * INVALID_ARGUMENT, in SPIRE's words.
 */
import { readFileSync } from 'node:fs';
import { parseCertificate, pemDecode, type Certificate } from '@spire-ts/common';
import { PluginError, s, type Infer } from '@spire-ts/plugin-sdk';

export const configSchema = s.object({
  devid_ca_path: s.string({ default: '' }),
  endorsement_ca_path: s.string({ default: '' }),
});
export type RawConfig = Infer<typeof configSchema>;

export interface TpmDevIdConfig {
  readonly trustDomain: string;
  readonly devIdRoots: readonly Certificate[];
  readonly ekRoots: readonly Certificate[];
}

const MAX_BUNDLE_BYTES = 4 << 20;

/** Reads a PEM bundle of certificates; throws with the file and the problem. */
export function loadBundle(path: string): Certificate[] {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read "${path}": ${(err as Error).message}`);
  }
  if (data.length > MAX_BUNDLE_BYTES) throw new Error(`"${path}" is ${data.length} bytes, larger than ${MAX_BUNDLE_BYTES}`);
  let blocks: Uint8Array[];
  try {
    blocks = pemDecode(data.toString('utf8'), 'CERTIFICATE');
  } catch (err) {
    throw new Error(`"${path}": ${(err as Error).message}`);
  }
  if (blocks.length === 0) throw new Error(`"${path}": no CERTIFICATE PEM block found`);
  return blocks.map((der, i) => {
    try {
      return parseCertificate(der);
    } catch (err) {
      throw new Error(`"${path}": certificate ${i}: ${(err as Error).message}`);
    }
  });
}

/** Builds the configuration; throws INVALID_ARGUMENT listing every problem (as SPIRE's pluginconf). */
export function buildTpmDevIdConfig(raw: RawConfig, trustDomain: string): TpmDevIdConfig {
  const problems: string[] = [];
  if (raw.devid_ca_path === '') problems.push('devid_ca_path is required');
  if (raw.endorsement_ca_path === '') problems.push('endorsement_ca_path is required');
  const load = (path: string, what: string): Certificate[] => {
    if (path === '') return [];
    try {
      return loadBundle(path);
    } catch (err) {
      problems.push(`unable to load ${what} trust bundle: ${(err as Error).message}`);
      return [];
    }
  };
  const devIdRoots = load(raw.devid_ca_path, 'DevID');
  const ekRoots = load(raw.endorsement_ca_path, 'endorsement');
  if (problems.length > 0) throw PluginError.invalidArgument(problems.join('; '));
  return { trustDomain, devIdRoots, ekRoots };
}
