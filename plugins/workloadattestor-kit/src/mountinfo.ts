import { CgroupParseError } from './errors.js';

/** One line of `/proc/<pid>/mountinfo` (proc(5)); path fields have the kernel's octal escapes (`\040`) decoded. */
export interface MountInfoLine {
  mountId: number;
  parentId: number;
  /** `major:minor` of the device. */
  majorMinor: string;
  /** The directory of the filesystem that forms the root of this mount. */
  root: string;
  mountPoint: string;
  mountOptions: string;
  /** Zero or more `tag[:value]` fields (`shared:1`, `master:2`, ...). */
  optionalFields: string[];
  fsType: string;
  /** Mount source; may be empty (a tmpfs with no source). */
  source: string;
  superOptions: string;
}

function quote(line: string): string {
  return JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}...` : line);
}

/** Decodes the kernel's `\ooo` escapes (space, tab, newline, backslash). */
function unescape(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\([0-3][0-7]{2})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function id(field: string, what: string, lineNo: number, line: string): number {
  if (!/^\d{1,10}$/.test(field)) throw new CgroupParseError(`invalid ${what} ${JSON.stringify(field)} in mountinfo line ${lineNo}: ${quote(line)}`);
  return Number(field);
}

/**
 * Parses the text of `/proc/<pid>/mountinfo`. Fields are split on single
 * spaces so that an empty mount source (`- tmpfs  rw,...`) stays an empty
 * field instead of shifting the ones after it.
 */
export function parseMountInfo(text: string): MountInfoLine[] {
  const out: MountInfoLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const n = i + 1;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (fields.indexOf('-') < 0) throw new CgroupParseError(`missing separator in mountinfo line ${n}: ${quote(line)}`);
    if (sep < 0) throw new CgroupParseError(`expected at least 6 fields before separator in mountinfo line ${n}: ${quote(line)}`);
    const fsType = fields[sep + 1];
    if (fsType === undefined || fsType === '') throw new CgroupParseError(`missing filesystem type in mountinfo line ${n}: ${quote(line)}`);
    out.push({
      mountId: id(fields[0]!, 'mount ID', n, line),
      parentId: id(fields[1]!, 'parent ID', n, line),
      majorMinor: fields[2]!,
      root: unescape(fields[3]!),
      mountPoint: unescape(fields[4]!),
      mountOptions: fields[5]!,
      optionalFields: fields.slice(6, sep),
      fsType,
      source: unescape(fields[sep + 2] ?? ''),
      superOptions: fields.slice(sep + 3).join(' '),
    });
  }
  return out;
}
