// npm run bench -- NAME [args]: runs one benchmark, which prints `name: value unit` lines.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const BENCHES = {
  plugin: 'bench/dist/plugin.js',
  datastore: 'plugins/server-datastore-sql/dist/bench.js',
  server: 'bench/dist/server.js',
  agent: 'bench/dist/agent.js',
};
const [name, ...rest] = process.argv.slice(2);
if (!name || !(name in BENCHES)) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [args]\n`);
  process.exit(2);
}
const file = BENCHES[name];
if (!existsSync(file)) {
  process.stderr.write(`bench ${name}: ${file} is missing; run npm run build\n`);
  process.exit(1);
}
const r = spawnSync(process.execPath, [file, ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
