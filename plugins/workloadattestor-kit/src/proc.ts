import { join } from 'node:path';
import { CgroupParseError, ProcessGoneError } from './errors.js';
import { readBounded } from './read.js';

/** The procfs root: `$HOST_PROC` (an agent in a container sees the host's procfs there) or `/proc`. */
export function defaultProcRoot(): string {
  return process.env.HOST_PROC || '/proc';
}

/**
 * Start time of a process (field 22 of `<procRoot>/<pid>/stat`, clock ticks
 * since boot). Read it before and after a lookup: a different answer (or
 * ProcessGoneError) means the pid exited, or was reused, in between.
 */
export async function processStartTime(procRoot: string, pid: number): Promise<string> {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new RangeError(`pid must be a positive integer, got ${pid}`);
  const file = join(procRoot, String(pid), 'stat');
  let text: string;
  try {
    text = await readBounded(file, 64 * 1024);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw new ProcessGoneError(pid, `process ${pid} does not exist`, { cause: err });
    throw err;
  }
  // comm (field 2) is in parentheses and may itself hold spaces and ')':
  // the fields resume after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) throw new CgroupParseError(`malformed ${file}: no ')' after the command name`);
  const fields = text.slice(close + 1).trim().split(/\s+/);
  // fields[0] is field 3 (state), so field 22 is fields[19].
  const start = fields[19];
  if (start === undefined || !/^\d+$/.test(start)) throw new CgroupParseError(`malformed ${file}: field 22 (starttime) is ${JSON.stringify(start ?? '')}`);
  return start;
}
