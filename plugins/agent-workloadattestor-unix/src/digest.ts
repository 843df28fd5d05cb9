import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

/** The file is larger than the configured limit; nothing past the limit was hashed. */
export class SizeLimitError extends Error {
  override readonly name = 'SizeLimitError';
  constructor(
    /** The file's size, or a lower bound of it when it grew while being read. */
    readonly size: number,
    readonly limit: number,
    readonly grew = false,
  ) {
    super(`${grew ? 'at least ' : ''}${size} bytes, over the limit of ${limit} bytes`);
  }
}

const CHUNK = 1 << 16;

/**
 * Hex SHA-256 of a file, streamed. With `limit > 0` a file larger than
 * `limit` bytes is refused before hashing (by its size) and while hashing
 * (should it grow), so at most `limit` bytes are ever read.
 */
export async function sha256File(path: string, limit: number): Promise<string> {
  const fh = await open(path, 'r');
  try {
    if (limit > 0) {
      const { size } = await fh.stat();
      if (size > limit) throw new SizeLimitError(size, limit);
    }
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (limit > 0 && total > limit) throw new SizeLimitError(total, limit, true);
      hash.update(buf.subarray(0, bytesRead));
    }
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}
