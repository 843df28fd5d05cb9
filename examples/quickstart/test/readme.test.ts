// The repository README's examples, run. Each example is a fenced block
// marked `<!-- readme-test: NAME -->` (see readme-blocks.ts); this file:
//  - validates the server and agent configs (and the PostgreSQL and MySQL
//    DataStore variants spliced into the server config) with
//    `spire-server validate` / `spire-agent validate`;
//  - runs `cli-start` line by line, which starts spire-server and
//    spire-agent FROM THOSE CONFIGS, then the SDK example as a workload of
//    that agent, then every line of the `cli` cheat sheet in order;
//  - starts two servers from the server config with the PostgreSQL
//    DataStore on one fresh database (skipped without PostgreSQL unless
//    CI=true) and checks they share entries and each other's CA;
//  - validates the plugin_cmd example (the plugin template, with its real
//    checksum, then a wrong one);
//  - checks the plugin snippet is the template's source, runs the
//    conformance lines, checks the npm scripts and bench names exist, and
//    that the quickstart output lines are printed by examples/quickstart or
//    examples/mtls-demo.
// Substitutions (the only differences from what the README says): the
// paths /var/lib/spire-server, /var/lib/spire-agent, /etc/spire and the two
// default sockets move into a temp dir, ports 8081/8080 become free ports,
// `unix:uid:1000` becomes this process's uid, `<token>` and `<jwt>` are what
// `token generate` and `api fetch jwt` printed, admin and `api` commands get
// `-socketPath` (the README relies on the defaults, which its configs use),
// the HA test's connection_string names its own database,
// the conformance kit's `./my-keymanager` is examples/plugin-template, and
// each conformance line runs a subset (`--only EC_P256` for the built-in
// KeyManager, `--only Configure` for the others; npm test runs the whole kit
// on every plugin elsewhere).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_MAIN, E2eEnv, Proc, SERVER_MAIN, freePort } from '../../../core/agent/test/e2e-harness.js';
import { tempDir } from '../../../core/agent/test/workload-fixtures.js';
import { REPO, agentSocket, block, literalRuns, readmeBlocks, replaceBlock, replaceDataStore, serverSocket, shLines, substitute, type Places, type ShLine } from './readme-blocks.js';

const CONFORMANCE_MAIN = join(REPO, 'conformance/dist/cli.js');
const TEMPLATE_MAIN = join(REPO, 'examples/plugin-template/dist/main.js');
const blocks = readmeBlocks();
const notBuilt = E2eEnv.check();
const places: Places = { dir: tempDir('spire-readme-'), port: 0, healthPort: 0, uid: process.getuid?.() ?? 0 };
const procs: Proc[] = [];
const vars = new Map<string, string>();

interface Run {
  code: number;
  out: string;
}

function exec(argv: string[], timeoutMs = 30_000, cwd = places.dir): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { cwd, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

const MAINS: Record<string, string> = { 'spire-server': SERVER_MAIN, 'spire-agent': AGENT_MAIN, 'spire-conformance': CONFORMANCE_MAIN };

/** The node argv for a README line, after the substitutions. */
function argvOf(line: ShLine): string[] {
  const [cmd, ...args] = line.argv.map((a) => substitute(a, places).replace(/<(token|jwt)>/g, (m, name: string) => {
    const v = vars.get(name);
    if (v === undefined) throw new Error(`"${line.text}" uses ${m} before a line printed it`);
    return v;
  }));
  const main = MAINS[cmd!];
  if (!main) throw new Error(`README line runs an unknown command: ${line.text}`);
  const verb = args[0];
  if (verb !== 'run' && verb !== 'validate' && cmd !== 'spire-conformance' && !args.includes('-socketPath')) {
    args.push('-socketPath', cmd === 'spire-server' ? serverSocket(places) : agentSocket(places));
  }
  return [main, ...args];
}

/**
 * Runs one README line; a failure quotes the line and its output. `api
 * fetch` lines retry until they succeed and print `until`: a new entry (or a
 * deleted one) reaches the agent on its next sync, a few seconds later.
 */
async function runLine(line: ShLine, until = ''): Promise<string> {
  const argv = argvOf(line);
  if (line.background) {
    const p = new Proc(line.argv[0]!, argv, places.dir);
    procs.push(p);
    await p.waitFor(`${line.argv[0]!} is ready`, 40_000);
    return '';
  }
  if (line.argv[1] === 'api' && line.argv[2] === 'watch') {
    // Streams until interrupted: wait for the first update, then Ctrl-C.
    const p = new Proc('watch', argv, places.dir);
    procs.push(p);
    await p.waitFor('SPIFFE ID:', 15_000);
    await new Promise((res) => setTimeout(res, 300)); // the rest of the update
    await p.stop('SIGINT');
    return p.log;
  }
  let r = await exec(argv);
  for (let i = 0; (r.code !== 0 || !r.out.includes(until)) && line.argv[1] === 'api' && line.argv[2] === 'fetch' && i < 20; i++) {
    await new Promise((res) => setTimeout(res, 1_000));
    r = await exec(argv);
  }
  if (r.code !== 0) throw new Error(`README line failed (exit ${r.code}): ${line.text}\n${r.out}\n${procs.map((p) => `== ${p.name}\n${p.tail(20)}`).join('\n')}`);
  if (line.stdoutTo) writeFileSync(substitute(line.stdoutTo, places), r.out);
  const token = /^Token: (\S+)$/m.exec(r.out)?.[1];
  if (token) vars.set('token', token);
  const jwt = /\b(eyJ[\w-]+\.[\w-]+\.[\w-]+)/.exec(r.out)?.[1];
  if (jwt && line.argv[2] === 'fetch') vars.set('jwt', jwt);
  return r.out;
}

function pgUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(5432, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

beforeAll(async () => {
  if (notBuilt) return;
  places.port = await freePort();
  places.healthPort = await freePort();
  for (const d of ['server/private', 'agent/public', 'etc']) mkdirSync(join(places.dir, d), { recursive: true });
  writeFileSync(join(places.dir, 'etc/server.conf'), substitute(block(blocks, 'server-config').body, places));
  writeFileSync(join(places.dir, 'etc/agent.conf'), substitute(block(blocks, 'agent-config').body, places));
  copyFileSync(new URL('fixtures/other.org.pem', import.meta.url), join(places.dir, 'etc/other.org.pem'));
  // The SDK example resolves @spire-ts/spiffe through the repository's node_modules.
  symlinkSync(join(REPO, 'node_modules'), join(places.dir, 'node_modules'));
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGTERM', 3_000).catch(() => undefined)));
  rmSync(places.dir, { recursive: true, force: true });
});

describe.skipIf(notBuilt !== undefined)('README configuration examples', () => {
  it('the server config is valid', async () => {
    const r = await exec([SERVER_MAIN, 'validate', '-config', join(places.dir, 'etc/server.conf')]);
    expect(r.out).toContain('SPIRE server configuration file is valid.');
    expect(r.code).toBe(0);
  });

  it('the agent config is valid', async () => {
    const r = await exec([AGENT_MAIN, 'validate', '-config', join(places.dir, 'etc/agent.conf')]);
    expect(r.out).toContain('SPIRE agent configuration file is valid.');
    expect(r.code).toBe(0);
  });

  it.each(['datastore-postgres', 'datastore-mysql'])('the server config with the %s DataStore is valid', async (name) => {
    const conf = replaceDataStore(readFileSync(join(places.dir, 'etc/server.conf'), 'utf8'), block(blocks, name).body);
    expect(conf).not.toContain('sqlite3');
    const file = join(places.dir, `etc/${name}.conf`);
    writeFileSync(file, conf);
    const r = await exec([SERVER_MAIN, 'validate', '-config', file]);
    expect(r.out).toContain('SPIRE server configuration file is valid.');
    expect(r.code).toBe(0);
  });

  it('plugin-cmd: the plugin template as an external KeyManager, its checksum checked', async () => {
    const sum = createHash('sha256').update(readFileSync(TEMPLATE_MAIN)).digest('hex');
    const snippet = block(blocks, 'plugin-cmd').body;
    expect(snippet).toContain('/opt/spire/plugins/my-keymanager');
    const base = readFileSync(join(places.dir, 'etc/server.conf'), 'utf8');
    for (const [checksum, code] of [[sum, 0], ['0'.repeat(64), 1]] as const) {
      const file = join(places.dir, `etc/plugin-cmd-${code}.conf`);
      writeFileSync(file, replaceBlock(base, 'KeyManager "disk"', snippet.replace('/opt/spire/plugins/my-keymanager', TEMPLATE_MAIN).replace(/\b[0-9a-f]{64}\b/, checksum)));
      const r = await exec([SERVER_MAIN, 'validate', '-config', file]);
      expect(r.code, r.out).toBe(code);
      if (code === 1) expect(r.out).toMatch(/checksum/i);
    }
  });

  it('validate would catch a broken DataStore block (the check above can fail)', async () => {
    const conf = replaceDataStore(readFileSync(join(places.dir, 'etc/server.conf'), 'utf8'), 'DataStore "sql" { plugin_data { database_type = "oracle" } }');
    const file = join(places.dir, 'etc/broken.conf');
    writeFileSync(file, conf);
    const r = await exec([SERVER_MAIN, 'validate', '-config', file]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('database_type');
  });
});

describe.skipIf(notBuilt !== undefined)('README: a trust domain from its configs, the SDK, the CLI cheat sheet', () => {
  it('cli-start: validates, starts spire-server and spire-agent, health checks pass', async () => {
    const lines = shLines(block(blocks, 'cli-start'));
    expect(lines.filter((l) => l.background).map((l) => l.argv[0])).toEqual(['spire-server', 'spire-agent']);
    for (const line of lines) await runLine(line);
    expect(vars.get('token')).toMatch(/^[0-9a-f-]{36}$/);
    expect(readFileSync(join(places.dir, 'etc/bootstrap-bundle.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
  }, 90_000);

  it('sdk: the Node SDK example gets its SVID and completes mTLS with itself', async () => {
    // A workload entry like the cheat sheet's, under its own ID so the cheat sheet's stays intact.
    const sdkId = 'spiffe://example.org/sdk-example';
    const created = await runLine({ text: 'entry create (sdk)', argv: ['spire-server', 'entry', 'create', '-parentID', 'spiffe://example.org/host', '-spiffeID', sdkId, '-selector', 'unix:uid:1000', '-entryID', 'sdk-example'], background: false, comment: '' });
    expect(created).toContain(sdkId);
    const b = block(blocks, 'sdk');
    expect(b.lang).toBe('js');
    const file = join(places.dir, 'hello.mjs');
    writeFileSync(file, b.body);
    const env = { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${agentSocket(places)}` };
    let out = '';
    for (let i = 0; i < 20; i++) {
      out = await new Promise<string>((resolve) => {
        execFile(process.execPath, [file], { cwd: places.dir, env, timeout: 20_000 }, (err, stdout, stderr) => resolve(`${err ? `exit ${String(err.code)}\n` : ''}${stdout}${stderr}`));
      });
      if (out.includes('the server said')) break;
      await new Promise((res) => setTimeout(res, 1_000)); // the entry is on its way to the agent
    }
    expect(out).toContain(`my SPIFFE ID: ${sdkId}\n`);
    expect(out).toContain(`the server said: hello ${sdkId}\n`);
    await runLine({ text: 'entry delete (sdk)', argv: ['spire-server', 'entry', 'delete', '-entryID', 'sdk-example'], background: false, comment: '' });
  }, 60_000);

  it('cli: every line of the cheat sheet succeeds, in order', async () => {
    const lines = shLines(block(blocks, 'cli'));
    const outputs = new Map<string, string>();
    for (const line of lines) outputs.set(line.text, await runLine(line, 'spiffe://example.org/web'));
    const out = (prefix: string): string => [...outputs].find(([t]) => t.startsWith(prefix))?.[1] ?? '';
    expect(out('spire-server entry show')).toContain('spiffe://example.org/web');
    expect(out('spire-server entry update')).toContain('web.internal');
    expect(out('spire-agent api fetch x509')).toContain('spiffe://example.org/web');
    expect(out('spire-agent api validate jwt')).toContain('SVID is valid.');
    expect(out('spire-agent api watch')).toContain('spiffe://example.org/web');
    expect(out('spire-server bundle list')).toContain('* other.org');
    expect(out('spire-server agent show')).toContain(`spiffe://example.org/spire/agent/join_token/${vars.get('token') ?? '?'}`);
    // The agent is gone after `agent evict`.
    const list = await exec([SERVER_MAIN, 'agent', 'list', '-socketPath', serverSocket(places)]);
    expect(list.out).not.toContain(vars.get('token') ?? '?');
  }, 120_000);

  it('the cheat sheet covers every command of both CLIs', () => {
    const shown = new Set([...shLines(block(blocks, 'cli-start')), ...shLines(block(blocks, 'cli'))].map((l) => l.argv.slice(0, l.argv[1] === 'api' ? 4 : 3).filter((a) => !a.startsWith('-')).join(' ')));
    const server = ['run', 'validate', 'healthcheck', 'token generate', 'entry create', 'entry show', 'entry update', 'entry delete', 'entry count', 'agent list', 'agent show', 'agent ban', 'agent evict', 'bundle show', 'bundle set', 'bundle list', 'bundle delete', 'x509 mint', 'jwt mint'];
    const agent = ['run', 'validate', 'healthcheck', 'api fetch x509', 'api fetch jwt', 'api validate jwt', 'api watch'];
    for (const c of server) expect(shown, `spire-server ${c}`).toContain(`spire-server ${c}`);
    for (const c of agent) expect(shown, `spire-agent ${c}`).toContain(`spire-agent ${c}`);
  });
});

describe.skipIf(notBuilt !== undefined)('README: several servers on one PostgreSQL database (datastore-postgres)', () => {
  const db = `readme_ha_${process.pid}_${Date.now()}`;
  const admin = (): pg.Client => new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
  const servers: { places: Places; proc: Proc }[] = [];
  let created = false;

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.proc.stop('SIGTERM', 3_000).catch(() => undefined)));
    if (!created) return;
    const c = admin();
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).finally(() => c.end());
  });

  it('two servers share entries and publish each other\'s CA', async (ctx) => {
    if (!(await pgUp())) {
      if (process.env.CI === 'true') throw new Error('PostgreSQL is not running on 127.0.0.1:5432');
      console.log('skipping the README HA example: no PostgreSQL on 127.0.0.1:5432');
      ctx.skip();
    }
    const c = admin();
    await c.connect();
    await c.query(`CREATE DATABASE ${db}`).finally(() => c.end());
    created = true;
    // The README's server config with its PostgreSQL DataStore; only the connection string points at the test database.
    const conf = replaceDataStore(block(blocks, 'server-config').body, block(blocks, 'datastore-postgres').body)
      .replace(/connection_string = "[^"]*"/, `connection_string = "dbname=${db} user=postgres host=127.0.0.1 sslmode=disable"`);
    for (const i of [0, 1]) {
      const p: Places = { dir: join(places.dir, `ha${i}`), port: await freePort(), healthPort: await freePort(), uid: places.uid };
      mkdirSync(join(p.dir, 'server/private'), { recursive: true });
      writeFileSync(join(p.dir, 'server.conf'), substitute(conf, p));
      const proc = new Proc(`spire-server #${i}`, [SERVER_MAIN, 'run', '-config', join(p.dir, 'server.conf')], p.dir);
      procs.push(proc);
      servers.push({ places: p, proc });
    }
    await Promise.all(servers.map((s) => s.proc.waitFor('spire-server is ready', 40_000)));
    const cli = (i: number, ...args: string[]): Promise<Run> => exec([SERVER_MAIN, ...args, '-socketPath', serverSocket(servers[i]!.places)]);
    const made = await cli(0, 'entry', 'create', '-parentID', 'spiffe://example.org/host', '-spiffeID', 'spiffe://example.org/ha', '-selector', 'unix:uid:1000', '-entryID', 'ha');
    expect(made.code, made.out).toBe(0);
    const seen = await cli(1, 'entry', 'show', '-entryID', 'ha');
    expect(seen.code, seen.out).toBe(0);
    expect(seen.out).toContain('spiffe://example.org/ha');
    // Each server's CA ends up in the bundle both serve (re-read every 5 s).
    let certs = 0;
    for (let i = 0; i < 30 && certs < 2; i++) {
      const [a, b] = await Promise.all([cli(0, 'bundle', 'show'), cli(1, 'bundle', 'show')]);
      certs = Math.min(a.out.split('BEGIN CERTIFICATE').length - 1, b.out.split('BEGIN CERTIFICATE').length - 1);
      if (certs < 2) await new Promise((res) => setTimeout(res, 1_000));
    }
    expect(certs).toBe(2);
  }, 120_000);
});

describe.skipIf(notBuilt !== undefined)('README: plugin, conformance and quickstart examples', () => {
  it('plugin: the snippet is the plugin template, line for line (a subset, in order)', () => {
    const src = readFileSync(join(REPO, 'examples/plugin-template/src/plugin.ts'), 'utf8').split('\n');
    let at = 0;
    for (const line of block(blocks, 'plugin').body.split('\n')) {
      if (line.trim() === '') continue;
      const found = src.indexOf(line, at);
      expect(found, `README plugin line not in examples/plugin-template/src/plugin.ts (in order): ${line}`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
  });

  it('conformance: every line runs and passes', async () => {
    const pg = await pgUp();
    for (const line of shLines(block(blocks, 'conformance'))) {
      const argv = line.argv.map((a) => (a === './my-keymanager' ? TEMPLATE_MAIN : a));
      // A subset of each run, to keep this file quick (npm test runs the whole kit on every plugin).
      argv.push('--only', argv.includes('server:KeyManager:memory') ? 'EC_P256' : 'Configure');
      if (line.text.includes('postgres') && !pg) {
        if (process.env.CI === 'true') throw new Error('PostgreSQL is not running on 127.0.0.1:5432');
        console.log('skipping the README PostgreSQL conformance line: no PostgreSQL on 127.0.0.1:5432');
        continue;
      }
      const r = await exec([CONFORMANCE_MAIN, ...argv.slice(1)], 60_000, REPO);
      expect(r.out, line.text).toMatch(/\n[1-9]\d* passed, 0 failed\n/);
      expect(r.code, line.text).toBe(0);
    }
  }, 90_000);

  it('two-commands and bench: the npm scripts and benchmark names exist', () => {
    const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const benches = readFileSync(join(REPO, 'scripts/bench.mjs'), 'utf8');
    const lines = [...shLines(block(blocks, 'two-commands')), ...shLines(block(blocks, 'bench'))];
    expect(lines.length).toBeGreaterThanOrEqual(6);
    for (const l of lines) {
      for (const w of l.argv) if (w === 'start' || w === 'test' || w === 'bench') expect(scripts, l.text).toHaveProperty(w);
      if (l.argv.includes('bench')) expect(benches, l.text).toMatch(new RegExp(`\\n  ${l.argv.at(-1)!}: '`));
    }
  });

  it('quickstart-output: each line is printed by examples/quickstart or examples/mtls-demo', () => {
    const srcText = ['examples/quickstart/src', 'examples/mtls-demo/src']
      .flatMap((d) => readdirSync(join(REPO, d)).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(REPO, d, f), 'utf8')))
      .join('\n');
    const lines = block(blocks, 'quickstart-output').body.split('\n');
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      const step = /^\[(\d)\/6\]/.exec(line)?.[1];
      if (step) expect(srcText, line).toContain(`step(${step}, `);
      const runs = literalRuns(line.replace(/^\[\d\/6\]/, ''));
      expect(runs.length, `nothing checkable in: ${line}`).toBeGreaterThan(0);
      for (const run of runs) expect(srcText, `"${run}" (from the README line: ${line})`).toContain(run);
    }
    // And a reworded line would be caught.
    expect(literalRuns('  demo-client | mTLS fine: spiffe://example.org/demo-server answered').some((r) => !srcText.includes(r))).toBe(true);
  });
});
