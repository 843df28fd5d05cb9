import { open } from 'node:fs/promises';
import { CgroupParseError } from './errors.js';

/** Largest procfs text file the kit reads (cgroup, mountinfo, stat). */
export const MAX_PROC_FILE_BYTES = 1024 * 1024;

/**
 * Reads a whole (procfs) text file, refusing one larger than `limit`.
 * procfs files report size 0, so the size is only known by reading: this
 * reads in chunks and stops one byte past the limit, never holding more.
 */
export async function readBounded(path: string, limit = MAX_PROC_FILE_BYTES): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const want = Math.min(64 * 1024, limit + 1 - total);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limit) throw new CgroupParseError(`${path} is larger than ${limit} bytes`);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await fh.close();
  }
}
