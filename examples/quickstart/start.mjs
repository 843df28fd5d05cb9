#!/usr/bin/env node
// `npm start`: builds what is missing or stale (tsc -b is incremental, so a
// second start is quick), then runs the quickstart in this process so Ctrl-C
// reaches it directly.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const run = (what, args) => {
  process.stdout.write(`${what}\n`);
  const r = spawnSync(process.execPath, args, { cwd: repo, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`\nthe build failed (${r.status ?? r.signal}); fix the errors above, or run \`npm ci\` if dependencies are missing\n`);
    process.exit(1);
  }
};
if (!existsSync(`${repo}node_modules/typescript/bin/tsc`)) {
  process.stderr.write('dependencies are not installed: run `npm ci` first\n');
  process.exit(1);
}
if (!existsSync(`${repo}proto/src/gen`)) run('generating the protobuf types (first run)...', ['proto/scripts/generate.mjs']);
run('building (tsc -b; quick when nothing changed)...', ['node_modules/typescript/bin/tsc', '-b']);
await import('./dist/main.js');
