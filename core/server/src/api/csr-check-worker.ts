/**
 * Worker thread of {@link CsrCheckPool} (csr-check.ts): imports each CSR's
 * public key and verifies the CSR signature with it, off the server's event
 * loop. Input is what the main thread already parsed and validated; the
 * answer per job is the verdict, or why OpenSSL refused the key.
 */
import { parentPort } from 'node:worker_threads';
import { verifyCsrSignature } from './csr-verify.js';
import type { CheckRequest, CheckResponse, CheckResult } from './csr-check.js';

const port = parentPort;
if (!port) throw new Error('csr-check-worker must run as a worker thread');

port.on('message', (msg: CheckRequest) => {
  void run(msg).then((response) => port.postMessage(response));
});

async function run(msg: CheckRequest): Promise<CheckResponse> {
  const bytes = new Uint8Array(msg.bytes);
  const results: CheckResult[] = [];
  for (const job of msg.jobs) {
    const [spkiEnd, infoEnd, sigEnd] = job.ends;
    const spki = bytes.subarray(job.start, spkiEnd);
    try {
      results.push({ id: job.id, valid: await verifyCsrSignature(job.alg, spki, bytes.subarray(spkiEnd, infoEnd), bytes.subarray(infoEnd, sigEnd)) });
    } catch (err) {
      results.push({ id: job.id, error: (err as Error).message ?? String(err) });
    }
  }
  return { results };
}
