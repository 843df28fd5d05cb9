// After `tsc -b`: make every workspace's `bin` files executable. npm links
// bins at `npm ci`, before they are built, so on a fresh clone the compiled
// files would otherwise lack the executable bit (and `plugin_cmd` or
// node_modules/.bin would refuse them).
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  // Workspace packages appear in the lock under their own folder (not under node_modules/).
  if (path === '' || path.startsWith('node_modules/') || !entry.bin) continue;
  for (const rel of Object.values(entry.bin)) {
    const file = join(root, path, rel);
    if (!existsSync(file)) continue;
    const mode = statSync(file).mode;
    if ((mode & 0o111) !== 0o111) chmodSync(file, mode | 0o755);
  }
}
