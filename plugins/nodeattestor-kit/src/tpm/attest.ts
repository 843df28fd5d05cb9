/**
 * TPMS_ATTEST (TPM 2.0 Part 2 §10.12.12): what TPM2_Certify, TPM2_Quote and
 * friends sign. CERTIFY and QUOTE bodies are decoded; other types keep
 * their raw body. A structure without the TPM_GENERATED_VALUE magic was not
 * produced by a TPM and is refused.
 */
import { MAX_DIGEST_SIZE, MAX_NAME_SIZE, TPM_GENERATED_VALUE, TPM_ST_ATTEST, hex16 } from './constants.js';
import { TpmError, TpmReader } from './wire.js';

export interface ClockInfo {
  readonly clock: bigint;
  readonly resetCount: number;
  readonly restartCount: number;
  readonly safe: boolean;
}

export interface CertifyInfo {
  readonly name: Buffer;
  readonly qualifiedName: Buffer;
}

export interface PcrSelection {
  readonly hashAlg: number;
  readonly select: Buffer;
}

export interface QuoteInfo {
  readonly pcrSelect: PcrSelection[];
  readonly pcrDigest: Buffer;
}

export interface TpmAttest {
  readonly magic: number;
  readonly type: number;
  readonly qualifiedSigner: Buffer;
  readonly extraData: Buffer;
  readonly clockInfo: ClockInfo;
  readonly firmwareVersion: bigint;
  /** Set when `type` is TPM_ST_ATTEST_CERTIFY. */
  readonly certify?: CertifyInfo;
  /** Set when `type` is TPM_ST_ATTEST_QUOTE. */
  readonly quote?: QuoteInfo;
  /** The undecoded body of any other type. */
  readonly attested?: Buffer;
}

/** TPML_PCR_SELECTION holds at most one entry per hash (HASH_COUNT). */
const MAX_PCR_BANKS = 16;
/** PCR_SELECT_MAX for a TPM with up to 256 PCRs. */
const MAX_PCR_SELECT = 32;
/** TPM2B_DATA: at most a digest plus the algorithm (sizeof(TPMT_HA)). */
const MAX_DATA_SIZE = MAX_DIGEST_SIZE + 2;

/** Decodes a TPMS_ATTEST (the content of a TPM2B_ATTEST), refusing trailing bytes. */
export function decodeAttest(bytes: Uint8Array): TpmAttest {
  const r = new TpmReader(Buffer.from(bytes), 'TPMS_ATTEST');
  const magic = r.u32('magic');
  if (magic !== TPM_GENERATED_VALUE) throw new TpmError(`TPMS_ATTEST: magic is 0x${magic.toString(16).padStart(8, '0')}, not TPM_GENERATED_VALUE (0xff544347)`);
  const type = r.u16('type');
  const qualifiedSigner = r.tpm2b('qualifiedSigner', MAX_NAME_SIZE);
  const extraData = r.tpm2b('extraData', MAX_DATA_SIZE);
  const clockInfo: ClockInfo = {
    clock: r.u64('clockInfo.clock'),
    resetCount: r.u32('clockInfo.resetCount'),
    restartCount: r.u32('clockInfo.restartCount'),
    safe: decodeBool(r.u8('clockInfo.safe')),
  };
  const firmwareVersion = r.u64('firmwareVersion');
  const head = { magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion };
  let result: TpmAttest;
  if (type === TPM_ST_ATTEST.CERTIFY) {
    const name = r.tpm2b('attested.certify.name', MAX_NAME_SIZE);
    const qualifiedName = r.tpm2b('attested.certify.qualifiedName', MAX_NAME_SIZE);
    result = { ...head, certify: { name, qualifiedName } };
  } else if (type === TPM_ST_ATTEST.QUOTE) {
    const count = r.u32('attested.quote.pcrSelect.count');
    if (count > MAX_PCR_BANKS) throw new TpmError(`TPMS_ATTEST: ${count} PCR selections, more than ${MAX_PCR_BANKS}`);
    const pcrSelect: PcrSelection[] = [];
    for (let i = 0; i < count; i++) {
      const hashAlg = r.u16(`attested.quote.pcrSelect[${i}].hash`);
      const size = r.u8(`attested.quote.pcrSelect[${i}].sizeofSelect`);
      if (size > MAX_PCR_SELECT) throw new TpmError(`TPMS_ATTEST: PCR selection of ${size} bytes, more than ${MAX_PCR_SELECT}`);
      pcrSelect.push({ hashAlg, select: r.bytes(size, `attested.quote.pcrSelect[${i}].pcrSelect`) });
    }
    result = { ...head, quote: { pcrSelect, pcrDigest: r.tpm2b('attested.quote.pcrDigest', MAX_DIGEST_SIZE) } };
  } else if (Object.values(TPM_ST_ATTEST).includes(type as never)) {
    result = { ...head, attested: r.bytes(r.remaining, 'attested') };
  } else {
    throw new TpmError(`TPMS_ATTEST: unknown attestation type ${hex16(type)}`);
  }
  r.end();
  return result;
}

function decodeBool(v: number): boolean {
  if (v > 1) throw new TpmError(`TPMS_ATTEST: clockInfo.safe is ${v}, not a TPMI_YES_NO`);
  return v === 1;
}
