// Test helpers: a private swtpm (TPM 2.0 simulator) process per test file,
// and the agent side of tpm_devid driven through tpm2-tools against it:
// EK, AK, a TPM-resident DevID key, TPM2_Certify, TPM2_Sign and
// TPM2_ActivateCredential. Nothing here is mocked: every blob comes from a
// real TPM implementation. Used by the kit's codec tests and the
// tpm_devid server plugin tests.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Whether swtpm and tpm2-tools are installed (tests skip otherwise). */
export const HAVE_SWTPM = ['/usr/bin/swtpm', '/usr/bin/tpm2_createek', '/usr/bin/tpm2_activatecredential'].every((p) => existsSync(p));

function freePortPair(): Promise<number> {
  return new Promise((resolve, reject) => {
    const a = createServer();
    a.once('error', reject);
    a.listen(0, '127.0.0.1', () => {
      const port = (a.address() as { port: number }).port;
      const b = createServer();
      b.once('error', () => {
        a.close();
        resolve(-1);
      });
      b.listen(port + 1, '127.0.0.1', () => {
        a.close();
        b.close();
        resolve(port);
      });
    });
  });
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  const { connect } = await import('node:net');
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`swtpm did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One swtpm process with its own state directory, and tpm2-tools pointed at it. */
export class Swtpm {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly proc: ChildProcess,
  ) {}

  static async start(): Promise<Swtpm> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePortPair();
      if (port < 0) continue;
      const dir = mkdtempSync(join(tmpdir(), 'swtpm-'));
      const proc = spawn(
        'swtpm',
        ['socket', '--tpm2', '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`, '--tpmstate', `dir=${dir}`, '--flags', 'not-need-init,startup-clear'],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      try {
        await waitForPort(port, Date.now() + 10_000);
        return new Swtpm(dir, port, proc);
      } catch (err) {
        proc.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        if (attempt === 4) throw new Error(`${(err as Error).message}: ${stderr}`);
      }
    }
    throw new Error('no free port pair for swtpm');
  }

  get tcti(): string {
    return `swtpm:host=127.0.0.1,port=${this.port}`;
  }

  /** Runs a tpm2-tools command against this TPM (cwd = the state directory). */
  async tool(name: string, args: string[]): Promise<string> {
    try {
      const { stdout } = await run(name, args, { cwd: this.dir, env: { ...process.env, TPM2TOOLS_TCTI: this.tcti }, timeout: 30_000 });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`${name} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
    }
  }

  /**
   * Runs a tpm2-tools command, then flushes every transient object: there is
   * no resource manager in front of swtpm, and its three object slots fill
   * up otherwise (later commands reload the saved .ctx files).
   */
  async toolFlushed(name: string, args: string[]): Promise<string> {
    try {
      return await this.tool(name, args);
    } finally {
      await this.tool('tpm2_flushcontext', ['-t']);
    }
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  read(name: string): Buffer {
    return readFileSync(this.path(name));
  }

  write(name: string, data: Uint8Array): string {
    writeFileSync(this.path(name), data);
    return this.path(name);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The content of a TPM2B file as tpm2-tools writes it (drops the 2-byte size). */
export function stripTpm2b(b: Buffer): Buffer {
  if (b.length < 2 || b.readUInt16BE(0) !== b.length - 2) throw new Error(`not a TPM2B file (${b.length} bytes)`);
  return b.subarray(2);
}

export type DevIdKeyType = 'rsa' | 'ecc';

/** The TPM-side objects of a tpm_devid agent, created with tpm2-tools. */
export class TpmAgent {
  constructor(readonly tpm: Swtpm) {}

  /** EK from the default TCG RSA template (TPMT_PUBLIC bytes). */
  async createEk(): Promise<Buffer> {
    await this.tpm.toolFlushed('tpm2_createek', ['-c', 'ek.ctx', '-G', 'rsa', '-u', 'ek.pub']);
    return stripTpm2b(this.tpm.read('ek.pub'));
  }

  /** A restricted RSASSA-SHA256 signing AK under the EK (TPMT_PUBLIC bytes). */
  async createAk(): Promise<Buffer> {
    await this.tpm.toolFlushed('tpm2_createak', ['-C', 'ek.ctx', '-c', 'ak.ctx', '-G', 'rsa', '-g', 'sha256', '-s', 'rsassa', '-u', 'ak.pub', '-f', 'tss', '-n', 'ak.name']);
    return stripTpm2b(this.tpm.read('ak.pub'));
  }

  /** A DevID key generated in the TPM under an owner primary (TPMT_PUBLIC bytes). */
  async createDevId(type: DevIdKeyType = 'ecc', attributes = 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'): Promise<Buffer> {
    await this.tpm.toolFlushed('tpm2_createprimary', ['-C', 'o', '-g', 'sha256', '-G', 'ecc', '-c', 'primary.ctx']);
    const alg = type === 'ecc' ? 'ecc256:ecdsa-sha256:null' : 'rsa2048:rsassa-sha256:null';
    await this.tpm.toolFlushed('tpm2_create', ['-C', 'primary.ctx', '-g', 'sha256', '-G', alg, '-a', attributes, '-u', 'devid.pub', '-r', 'devid.priv']);
    await this.tpm.toolFlushed('tpm2_load', ['-C', 'primary.ctx', '-u', 'devid.pub', '-r', 'devid.priv', '-c', 'devid.ctx']);
    return stripTpm2b(this.tpm.read('devid.pub'));
  }

  /**
   * Loads a software key's private part into the TPM (TPM2_LoadExternal, null
   * hierarchy): the TPM can then certify and sign with it, but it is not
   * fixedTPM. Returns its TPMT_PUBLIC.
   */
  async loadExternal(privatePem: string): Promise<Buffer> {
    this.tpm.write('soft.pem', Buffer.from(privatePem));
    await this.tpm.toolFlushed('tpm2_loadexternal', ['-C', 'n', '-G', 'ecc', '-r', 'soft.pem', '-a', 'sign|userwithauth', '-c', 'devid.ctx']);
    await this.tpm.toolFlushed('tpm2_readpublic', ['-c', 'devid.ctx', '-o', 'devid.pub', '-f', 'tss']);
    return stripTpm2b(this.tpm.read('devid.pub'));
  }

  /** TPM2_Certify of the DevID key by the AK: [TPMS_ATTEST, TPMT_SIGNATURE]. */
  async certify(): Promise<[Buffer, Buffer]> {
    await this.tpm.toolFlushed('tpm2_certify', ['-c', 'devid.ctx', '-C', 'ak.ctx', '-g', 'sha256', '-o', 'attest.bin', '-s', 'certify.sig', '-f', 'tss']);
    return [this.tpm.read('attest.bin'), this.tpm.read('certify.sig')];
  }

  /** TPM2_Sign with the DevID key over SHA-256(data): the TPMT_SIGNATURE. */
  async sign(data: Uint8Array): Promise<Buffer> {
    this.tpm.write('nonce.bin', data);
    await this.tpm.toolFlushed('tpm2_sign', ['-c', 'devid.ctx', '-g', 'sha256', '-f', 'tss', '-o', 'nonce.sig', 'nonce.bin']);
    return this.tpm.read('nonce.sig');
  }

  /**
   * TPM2_ActivateCredential with the AK and the EK (policy session on the
   * endorsement hierarchy, as the EK template requires). `credential` and
   * `secret` are the TPM2B contents as tpm_devid carries them.
   */
  async activateCredential(credential: Uint8Array, secret: Uint8Array): Promise<Buffer> {
    const u16 = (n: number): Buffer => {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(n);
      return b;
    };
    const header = Buffer.from([0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1]);
    this.tpm.write('cred.in', Buffer.concat([header, u16(credential.length), credential, u16(secret.length), secret]));
    await this.tpm.tool('tpm2_startauthsession', ['--policy-session', '-S', 'session.ctx']);
    try {
      await this.tpm.tool('tpm2_policysecret', ['-S', 'session.ctx', '-c', 'e']);
      await this.tpm.toolFlushed('tpm2_activatecredential', ['-c', 'ak.ctx', '-C', 'ek.ctx', '-i', 'cred.in', '-o', 'cred.out', '-P', 'session:session.ctx']);
    } finally {
      await this.tpm.tool('tpm2_flushcontext', ['session.ctx']).catch(() => undefined);
    }
    return this.tpm.read('cred.out');
  }
}
