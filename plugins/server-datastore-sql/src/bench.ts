/**
 * DataStore bench: `node dist/bench.js [--entries N] [--batch B] [--dialects postgres,sqlite3,mysql]`.
 * For each dialect it creates a scratch database, loads N registration entries
 * in batches (node aliases, workloads under them, entries parented directly by
 * agents, and a nested level), then times listing one agent's authorized
 * entries. Prints `name: value unit` lines on stdout; progress on stderr.
 * Needs PostgreSQL at 127.0.0.1:5432 (user postgres) and MariaDB/MySQL at
 * 127.0.0.1:3306 (root); override with --postgres URL / --mysql DSN-prefix.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { buildConfig } from './config.js';
import type { DatabaseType } from './config.js';
import { openSqlDataStore } from './open.js';
import type { SqlDataStore } from './store.js';
import type { NewEntry, Selector } from './types.js';

interface Options {
  entries: number;
  batch: number;
  dialects: DatabaseType[];
  postgres: string;
  mysql: string;
  iterations: number;
  keep: boolean;
}

const out = (name: string, value: number | string, unit: string): void => void process.stdout.write(`${name}: ${value} ${unit}\n`);
const progress = (msg: string): void => void process.stderr.write(`${msg}\n`);

function parseArgs(argv: string[]): Options {
  const o: Options = {
    entries: 1_000_000, batch: 1000, dialects: ['postgres', 'sqlite3', 'mysql'], postgres: 'postgres://postgres@127.0.0.1:5432',
    mysql: 'root@tcp(127.0.0.1:3306)', iterations: 30, keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--entries') o.entries = Number(next());
    else if (arg === '--batch') o.batch = Number(next());
    else if (arg === '--iterations') o.iterations = Number(next());
    else if (arg === '--dialects') o.dialects = next().split(',') as DatabaseType[];
    else if (arg === '--postgres') o.postgres = next();
    else if (arg === '--mysql') o.mysql = next();
    else if (arg === '--keep') o.keep = true;
    else if (arg !== 'datastore') throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(o.entries) || o.entries < 1000) throw new Error('--entries must be an integer >= 1000');
  return o;
}

const TD = 'spiffe://example.org';
const SERVER = `${TD}/spire/server`;
const PER_ALIAS = 1000;

/**
 * The data set, per cluster `a` (one node alias per PER_ALIAS entries) and
 * local index k, clusters interleaved so no cluster is stored contiguously:
 * k % 10 == 0 is parented by an agent of the cluster, 1 by that entry (a
 * nested level), 2 by the nested one (a third level), the rest by the alias.
 */
function* entries(total: number): Generator<NewEntry> {
  const aliases = Math.max(1, Math.floor(total / PER_ALIAS));
  for (let a = 0; a < aliases; a++) {
    yield { spiffeId: `${TD}/cluster/c${a}`, parentId: SERVER, selectors: [{ type: 'k8s_psat', value: `cluster:c${a}` }, { type: 'k8s_psat', value: 'agent_ns:spire' }] };
  }
  let produced = aliases;
  for (let k = 0; produced < total; k++) {
    for (let a = 0; a < aliases && produced < total; a++, produced++) {
      const kind = k % 10;
      const ns = `ns${k % 97}`;
      let parentId = `${TD}/cluster/c${a}`;
      if (kind === 0) parentId = `${TD}/spire/agent/k8s_psat/c${a}/node-${(k / 10) % 7}`;
      else if (kind === 1 || kind === 2) parentId = `${TD}/c${a}/w${k - 1}`;
      yield {
        spiffeId: `${TD}/c${a}/w${k}`,
        parentId,
        selectors: [{ type: 'k8s', value: `ns:${ns}` }, { type: 'k8s', value: `sa:w${k}` }],
        x509SvidTtl: 3600,
        dnsNames: kind === 3 ? [`w${k}.${ns}.svc`] : [],
        hint: kind === 4 ? 'external' : '',
      };
    }
  }
}

function agentSelectors(cluster: number): Selector[] {
  return [
    { type: 'k8s_psat', value: `cluster:c${cluster}` },
    { type: 'k8s_psat', value: 'agent_ns:spire' },
    { type: 'k8s_psat', value: 'agent_sa:spire-agent' },
    { type: 'k8s_psat', value: `agent_node_name:node-0` },
  ];
}

interface Scratch {
  connectionString: string;
  analyze(): Promise<void>;
  drop(): Promise<void>;
}

async function scratch(dialect: DatabaseType, o: Options): Promise<Scratch> {
  const name = `spire_ts_bench_${process.pid}`;
  if (dialect === 'sqlite3') {
    const dir = mkdtempSync(join(tmpdir(), 'spire-ts-bench-'));
    return { connectionString: join(dir, 'bench.sqlite3'), analyze: async () => undefined, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (dialect === 'postgres') {
    const admin = new pg.Client({ connectionString: `${o.postgres}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
    const cs = `${o.postgres}/${name}?sslmode=disable`;
    return {
      connectionString: cs,
      analyze: async () => {
        const c = new pg.Client({ connectionString: `${o.postgres}/${name}` });
        await c.connect();
        await c.query('VACUUM ANALYZE');
        await c.end();
      },
      drop: async () => {
        if (!o.keep) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      },
    };
  }
  const m = /^(?:([^:@]*)(?::([^@]*))?@)?tcp\(([^:)]+)(?::(\d+))?\)$/.exec(o.mysql);
  if (!m) throw new Error('--mysql must look like user:pass@tcp(host:port)');
  const admin = await mysql.createConnection({ user: m[1] ?? 'root', password: m[2] ?? '', host: m[3], port: Number(m[4] ?? 3306) });
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  return {
    connectionString: `${o.mysql}/${name}`,
    analyze: async () => void (await admin.query(`ANALYZE TABLE ${name}.registered_entries, ${name}.entry_selectors`)),
    drop: async () => {
      if (!o.keep) await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

async function load(ds: SqlDataStore, o: Options, prefix: string): Promise<void> {
  let batch: NewEntry[] = [];
  let done = 0;
  const start = performance.now();
  let lastReport = start;
  for (const e of entries(o.entries)) {
    batch.push(e);
    if (batch.length === o.batch) {
      await ds.createEntries(batch);
      done += batch.length;
      batch = [];
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        progress(`${prefix}: ${done} entries loaded (${Math.round(done / ((lastReport - start) / 1000))}/s)`);
      }
    }
  }
  if (batch.length) await ds.createEntries(batch);
  const seconds = (performance.now() - start) / 1000;
  out(`${prefix}.entries_loaded`, o.entries, 'entries');
  out(`${prefix}.create_entries_rate`, Math.round(o.entries / seconds), `entries/s (batches of ${o.batch})`);
}

async function benchDialect(dialect: DatabaseType, o: Options): Promise<void> {
  const prefix = dialect;
  progress(`${prefix}: preparing a scratch database`);
  const db = await scratch(dialect, o);
  const { config, notes } = buildConfig({ database_type: dialect, connection_string: db.connectionString, max_open_conns: 8 });
  if (!config) throw new Error(notes.join('; '));
  const ds = await openSqlDataStore(config);
  try {
    await load(ds, o, prefix);
    await db.analyze();
    const agent = `${TD}/spire/agent/k8s_psat/c0/node-0`;
    const selectors = agentSelectors(0);
    const clusters = Math.max(1, Math.floor(o.entries / PER_ALIAS));
    const first = performance.now();
    const result = await ds.listAuthorizedEntries(agent, { selectors });
    out(`${prefix}.list_authorized_entries_first`, (performance.now() - first).toFixed(1), 'ms');
    out(`${prefix}.authorized_entries`, result.length, 'entries');
    const times: number[] = [];
    for (let i = 0; i < o.iterations; i++) {
      const t = performance.now();
      const c = (i * 7919) % clusters; // a different agent each time, so no warm cache of one
      await ds.listAuthorizedEntries(`${TD}/spire/agent/k8s_psat/c${c}/node-0`, { selectors: agentSelectors(c) });
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    out(`${prefix}.list_authorized_entries_p50`, percentile(times, 0.5).toFixed(1), `ms (${o.entries} entries present, a different agent each call)`);
    out(`${prefix}.list_authorized_entries_p95`, percentile(times, 0.95).toFixed(1), 'ms');
    const warm: number[] = [];
    for (let i = 0; i < o.iterations; i++) {
      const t = performance.now();
      await ds.listAuthorizedEntries(agent, { selectors });
      warm.push(performance.now() - t);
    }
    warm.sort((a, b) => a - b);
    out(`${prefix}.list_authorized_entries_same_agent_p50`, percentile(warm, 0.5).toFixed(1), 'ms (repeated, cache warm)');
    const c0 = performance.now();
    const count = await ds.countEntries({ bySelectors: { selectors: [{ type: 'k8s', value: 'ns:ns5' }], match: 'any' } });
    out(`${prefix}.count_entries_by_selector`, (performance.now() - c0).toFixed(1), `ms (${count} matches)`);
    const p0 = performance.now();
    await ds.listEntries({ byParentId: `${TD}/cluster/c1`, pagination: { pageSize: 500 } });
    out(`${prefix}.list_entries_by_parent_page`, (performance.now() - p0).toFixed(1), 'ms (500 per page)');
  } finally {
    await ds.close();
    await db.drop();
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  for (const dialect of o.dialects) await benchDialect(dialect, o);
}

main().catch((err: unknown) => {
  progress(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
