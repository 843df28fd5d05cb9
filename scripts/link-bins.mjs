// After `tsc -b`: make every workspace's `bin` files executable and link them
// into node_modules/.bin. npm links workspace bins at `npm ci`, before they are
// built, so on a fresh clone the compiled files would lack the executable bit
// and the links would be missing (`npx spire-server` would then look for the
// name on the registry instead).
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const binDir = join(root, 'node_modules', '.bin');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));

function exists(path) {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  // Workspace packages appear in the lock under their own folder (not under node_modules/).
  if (path === '' || path.startsWith('node_modules/') || !entry.bin) continue;
  for (const [name, rel] of Object.entries(entry.bin)) {
    const file = join(root, path, rel);
    if (!existsSync(file)) continue;
    const mode = statSync(file).mode;
    if ((mode & 0o111) !== 0o111) chmodSync(file, mode | 0o755);
    const link = join(binDir, name);
    if (!exists(link)) {
      mkdirSync(binDir, { recursive: true });
      symlinkSync(relative(binDir, file), link);
    }
  }
}
