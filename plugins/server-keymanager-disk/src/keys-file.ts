/**
 * The keys file: `{ "version": 1, "keys": [{ "id", "type", "pkcs8" }] }`,
 * PKCS#8 DER in standard base64, not encrypted (as with SPIRE's `disk`
 * KeyManager). SPIRE's own `keys.json` (`{ "keys": { "<id>": "<base64 PKCS#8>" } }`)
 * is read too, so its keys can be carried over.
 */
import { createPrivateKey } from 'node:crypto';
import { PluginError, Status } from '@spire-ts/plugin-sdk';
import { KEY_TYPES, exportPrivateKey, importPrivateKey, type KeyEntry, type KeyType } from '@spire-ts/server-keymanager-memory';
import { atomicWriteFile, nodeFileOps, type FileOps } from './atomic-write.js';

/** The format version this plugin writes. */
export const KEYS_FILE_VERSION = 1;
/** Mode of the keys file (and its temp file): owner read/write only. */
export const KEYS_FILE_MODE = 0o600;

interface StoredKey {
  id: string;
  type: KeyType;
  pkcs8: string;
}

/** Serialises every key to the keys file format. */
export function encodeKeysFile(entries: readonly KeyEntry[]): Uint8Array {
  const keys: StoredKey[] = entries.map(({ id, key }) => ({
    id,
    type: key.type,
    pkcs8: Buffer.from(exportPrivateKey(key)).toString('base64'),
  }));
  return Buffer.from(`${JSON.stringify({ version: KEYS_FILE_VERSION, keys }, null, 2)}\n`);
}

/**
 * Parses a keys file.
 * @throws PluginError DATA_LOSS naming `path` and what is wrong: the caller must not start empty.
 */
export function decodeKeysFile(data: Uint8Array, path: string): KeyEntry[] {
  const corrupt = (why: string, cause?: unknown): PluginError =>
    new PluginError(Status.DATA_LOSS, `keys file ${path} is corrupt: ${why}; refusing to continue without its keys (restore it, or move it away to start with no keys)`, { cause });
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (err) {
    throw corrupt(`not valid JSON (${(err as Error).message})`, err);
  }
  if (!isObject(doc)) throw corrupt('the top level is not a JSON object');
  if (doc.version === undefined && isObject(doc.keys)) return decodeSpireKeys(doc.keys, corrupt);
  if (doc.version !== KEYS_FILE_VERSION) throw corrupt(`unsupported version ${JSON.stringify(doc.version)} (this plugin reads version ${KEYS_FILE_VERSION})`);
  if (!Array.isArray(doc.keys)) throw corrupt('"keys" is not an array');
  const seen = new Set<string>();
  return doc.keys.map((raw: unknown, i: number) => {
    const at = `keys[${i}]`;
    if (!isObject(raw)) throw corrupt(`${at} is not an object`);
    const { id, type, pkcs8 } = raw;
    if (typeof id !== 'string' || id === '') throw corrupt(`${at}.id is not a non-empty string`);
    if (seen.has(id)) throw corrupt(`key id ${JSON.stringify(id)} appears twice`);
    seen.add(id);
    if (typeof type !== 'string' || !(KEY_TYPES as readonly string[]).includes(type)) {
      throw corrupt(`${at} (${JSON.stringify(id)}) has type ${JSON.stringify(type)}, want one of ${KEY_TYPES.join(', ')}`);
    }
    const der = strictBase64(pkcs8);
    if (!der) throw corrupt(`${at} (${JSON.stringify(id)}).pkcs8 is not base64`);
    try {
      return { id, key: importPrivateKey(type as KeyType, der) };
    } catch (err) {
      throw corrupt(`${at} (${JSON.stringify(id)}): ${(err as Error).message}`, err);
    }
  });
}

function decodeSpireKeys(keys: Record<string, unknown>, corrupt: (why: string, cause?: unknown) => PluginError): KeyEntry[] {
  return Object.entries(keys)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, b64]) => {
      const der = strictBase64(b64);
      if (!der || id === '') throw corrupt(`key ${JSON.stringify(id)} is not base64 PKCS#8`);
      try {
        return { id, key: importPrivateKey(keyTypeOf(der), der) };
      } catch (err) {
        throw corrupt(`key ${JSON.stringify(id)}: ${(err as Error).message}`, err);
      }
    });
}

/** The {@link KeyType} of a PKCS#8 private key (for files that do not say). */
function keyTypeOf(der: Uint8Array): KeyType {
  const k = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  const d = k.asymmetricKeyDetails;
  if (k.asymmetricKeyType === 'ec' && d?.namedCurve === 'prime256v1') return 'EC_P256';
  if (k.asymmetricKeyType === 'ec' && d?.namedCurve === 'secp384r1') return 'EC_P384';
  if (k.asymmetricKeyType === 'rsa' && d?.modulusLength === 2048) return 'RSA_2048';
  if (k.asymmetricKeyType === 'rsa' && d?.modulusLength === 4096) return 'RSA_4096';
  throw new Error(`unsupported key (${k.asymmetricKeyType} ${d?.namedCurve ?? d?.modulusLength ?? ''})`);
}

/**
 * Reads the keys file; `undefined` when it does not exist (start empty).
 * @throws PluginError FAILED_PRECONDITION if it cannot be read, DATA_LOSS if it is corrupt.
 */
export async function readKeysFile(path: string, ops: FileOps = nodeFileOps): Promise<KeyEntry[] | undefined> {
  let data: Uint8Array;
  try {
    data = await ops.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PluginError(Status.FAILED_PRECONDITION, `unable to read keys file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return decodeKeysFile(data, path);
}

/** Atomically replaces the keys file with `entries` (mode 0600). */
export async function writeKeysFile(path: string, entries: readonly KeyEntry[], ops: FileOps = nodeFileOps): Promise<void> {
  await atomicWriteFile(path, encodeKeysFile(entries), { mode: KEYS_FILE_MODE, ops });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Buffer.from(s, 'base64') skips junk silently; a keys file must be exact.
function strictBase64(v: unknown): Uint8Array | undefined {
  if (typeof v !== 'string' || v.length === 0 || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return undefined;
  return Buffer.from(v, 'base64');
}
