// stopAll, the quickstart's way of stopping its children, with real child
// processes that report every signal they get.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Child, stopAll } from '../src/proc.js';

let dir: string;
let script: string;
const started: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'qs-proc-test-'));
  script = join(dir, 'child.mjs');
  // Like spire-server and spire-agent: the first SIGINT or SIGTERM starts a
  // 300 ms stop, then exit 0; with `stubborn` it ignores both.
  writeFileSync(
    script,
    `let n = 0;
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => {
  n++;
  console.log('got ' + s);
  if (n === 1 && process.argv[2] !== 'stubborn') setTimeout(() => process.exit(0), 300);
});
console.log('ready');
setInterval(() => undefined, 1000);
`,
  );
});

afterAll(() => {
  for (const c of started) if (c.exit === undefined) c.proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function children(n: number, arg = ''): Promise<Child[]> {
  const kids = Array.from({ length: n }, (_, i) => new Child(`${arg || 'child'}-${i}`, script, arg ? [arg] : []));
  started.push(...kids);
  await Promise.all(kids.map((c) => c.waitFor('ready', 10_000)));
  return kids;
}

const signalsOf = (c: Child): string[] => [...c.output.matchAll(/got (SIG\w+)/g)].map((m) => m[1]!);

describe('stopAll', () => {
  it('after a process-group signal, the children that got it are waited for, not signalled again', async () => {
    const kids = await children(3);
    // What Ctrl-C does: the same SIGINT to every process of the group.
    for (const c of kids) c.proc.kill('SIGINT');
    const lines: string[] = [];
    const t0 = Date.now();
    await stopAll(kids, { signalled: true, graceMs: 5000, killGraceMs: 5000, say: (l) => lines.push(l), why: 'SIGINT received' });
    expect(Date.now() - t0).toBeLessThan(3000);
    for (const c of kids) {
      expect(c.exit).toEqual({ code: 0, signal: null });
      expect(signalsOf(c)).toEqual(['SIGINT']);
    }
    expect(lines[0]).toMatch(/^\nSIGINT received: waiting up to 5 s for child-0 \(pid \d+\), child-1/);
    expect(lines.filter((l) => l.startsWith('  stopped child-'))).toHaveLength(3);
    expect(lines.join('\n')).not.toContain('still running');
  });

  it('after a signal to the quickstart alone, the children get one SIGTERM each once the grace period is over', async () => {
    const kids = await children(2);
    const lines: string[] = [];
    const t0 = Date.now();
    await stopAll(kids, { signalled: true, graceMs: 400, killGraceMs: 5000, say: (l) => lines.push(l), why: 'SIGTERM received' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    for (const c of kids) {
      expect(c.exit).toEqual({ code: 0, signal: null });
      expect(signalsOf(c)).toEqual(['SIGTERM']);
    }
    expect(lines).toContain(`  still running after 0.4 s: stopping child-0 (pid ${kids[0]!.pid}), child-1 (pid ${kids[1]!.pid}) (SIGTERM)`);
  });

  it('without a signal (a failure), children are stopped at once in order; one that ignores SIGTERM is SIGKILLed', async () => {
    const [polite] = await children(1);
    const [stubborn] = await children(1, 'stubborn');
    const lines: string[] = [];
    await stopAll([polite!, stubborn!], { signalled: false, graceMs: 5000, killGraceMs: 1500, say: (l) => lines.push(l), why: 'failure' });
    expect(polite!.exit).toEqual({ code: 0, signal: null });
    expect(stubborn!.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(signalsOf(polite!)).toEqual(['SIGTERM']);
    expect(lines[0]).toBe(`\nfailure: stopping child-0 (pid ${polite!.pid}), stubborn-0 (pid ${stubborn!.pid})`);
    expect(lines.slice(1)).toEqual([`  stopped child-0 (pid ${polite!.pid}, status 0)`, `  stopped stubborn-0 (pid ${stubborn!.pid}, signal SIGKILL)`]);
  });
});
