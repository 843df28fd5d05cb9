/**
 * The agent's node identity (SPIRE's pkg/agent/attestor/node and
 * pkg/agent/svid rotator): at start, reuse the SVID persisted in data_dir
 * when it is still valid, otherwise attest; then renew it at half its life
 * (RenewAgent with a new key, or re-attestation for reattestable agents),
 * refresh the trust bundle from the server, persist both, and rebuild the
 * server connection with each. A ban or eviction is terminal: listeners of
 * {@link NodeIdentity.onTerminal} learn why and the agent must stop serving.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { joinTokenEnabled, type Bundle, type Logger } from '@spire-ts/common';
import type { RuntimeConfig, TrustBundleSource } from '../config/runtime.js';
import { ServerApiClient } from './api.js';
import { terminalDenial, watchTerminalDenials } from './denials.js';
import type { AgentServerApi } from './server-api.js';
import { attestAgent, checkAgentSvid, renewAgent, type AgentSvid } from './attest.js';
import { JOIN_TOKEN_TYPE, JoinTokenAttestor, type AgentNodeAttestor } from './attestor.js';
import { describeSource, loadBootstrapBundle } from './bootstrap.js';
import { ServerConnection } from './connection.js';
import { NodeIdentityError, deniedReason, describeError } from './errors.js';
import { AgentStorage, BUNDLE_FILE, DATA_FILE, KEY_FILE, SVID_FILE, type AgentData } from './storage.js';

/** SPIRE's clock skew allowance when deciding a persisted SVID has expired. */
const EXPIRY_SKEW_MS = 1_000;
export const DEFAULT_BUNDLE_REFRESH_MS = 30_000;
export const DEFAULT_RETRY_MS = 5_000;
/** Longest a Node.js timer can wait (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The agent SVID is near expiry (and said so once when renewal keeps failing) in the last fifth of its lifetime. */
const NEAR_EXPIRY_FRACTION = 0.2;

export interface NodeIdentityOptions {
  trustDomain: string;
  serverAddress: string;
  serverPort: number;
  dataDir: string;
  trustBundle: TrustBundleSource;
  /** The join token (already read from join_token_file); wins over `attestor`, as in SPIRE. */
  joinToken?: string | undefined;
  /** A NodeAttestor plugin facade, when the agent attests with one. */
  attestor?: AgentNodeAttestor | undefined;
  /** `NodeAttestor "join_token"` is configured (built in: it attests with `joinToken`, when one is given). */
  joinTokenAttestor?: boolean | undefined;
  log: Logger;
  bundleRefreshMs?: number;
  retryMs?: number;
}

/** The node identity options from the agent's runtime configuration (reads join_token_file). */
export async function nodeIdentityOptions(cfg: RuntimeConfig, extra: { log: Logger; attestor?: AgentNodeAttestor }): Promise<NodeIdentityOptions> {
  let joinToken: string | undefined;
  if (cfg.joinToken?.kind === 'value') joinToken = cfg.joinToken.token;
  else if (cfg.joinToken?.kind === 'file') {
    try {
      joinToken = (await readFile(cfg.joinToken.path, 'utf8')).trim();
    } catch (err) {
      throw new NodeIdentityError('ERR_NODE_START', `cannot read join_token_file ${cfg.joinToken.path}: ${(err as Error).message}`, { cause: err });
    }
    if (!joinToken) throw new NodeIdentityError('ERR_NODE_START', `join_token_file ${cfg.joinToken.path} is empty`);
  }
  return {
    trustDomain: cfg.trustDomain,
    serverAddress: cfg.serverAddress,
    serverPort: cfg.serverPort,
    dataDir: cfg.dataDir,
    trustBundle: cfg.trustBundle,
    joinToken,
    attestor: extra.attestor,
    joinTokenAttestor: joinTokenEnabled(cfg.plugins),
    log: extra.log,
  };
}

export function newAgentKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

export class NodeIdentity {
  readonly connection: ServerConnection;
  /** The server API over this identity's connection; a ban or eviction it meets ends the identity. */
  readonly api: AgentServerApi;
  private readonly storage: AgentStorage;
  private readonly log: Logger;
  private readonly attestor: AgentNodeAttestor | undefined;
  private current: AgentSvid | undefined;
  private bundleValue: Bundle | undefined;
  private reattestableValue = false;
  /** A re-attestation after AGENT_EXPIRED / AGENT_NOT_ACTIVE is under way. */
  private reattesting = false;
  private timers = new Set<NodeJS.Timeout>();
  private busy: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private terminalError: NodeIdentityError | undefined;
  /** Removal of the agent SVID after a terminal denial (see {@link fatal}). */
  private svidRemoval: Promise<void> | undefined;
  /** What was last said of renewals of the agent SVID failing (see {@link reportRenewalFailure}). */
  private renewalAlarm: string | undefined;
  private readonly listeners = { svid: new Set<(s: AgentSvid) => void>(), bundle: new Set<(b: Bundle) => void>(), terminal: new Set<(e: NodeIdentityError) => void>() };

  constructor(private readonly opts: NodeIdentityOptions) {
    this.log = opts.log.with({ subsystem_name: 'node_identity' });
    this.storage = new AgentStorage(opts.dataDir);
    this.connection = new ServerConnection({ address: opts.serverAddress, port: opts.serverPort, trustDomain: opts.trustDomain, log: this.log });
    this.api = watchTerminalDenials(
      new ServerApiClient(this.connection, opts.trustDomain, this.log),
      (err) => this.fatal(err),
      (err, what) => void this.handleFailure(err, what),
    );
    this.attestor = opts.joinToken ? new JoinTokenAttestor(opts.joinToken) : opts.attestor;
  }

  get svid(): AgentSvid {
    if (!this.current) throw new Error('the agent has no SVID yet: call start() first');
    return this.current;
  }

  get bundle(): Bundle {
    if (!this.bundleValue) throw new Error('the agent has no trust bundle yet: call start() first');
    return this.bundleValue;
  }

  get reattestable(): boolean {
    return this.reattestableValue;
  }

  get terminal(): NodeIdentityError | undefined {
    return this.terminalError;
  }

  onSvid(fn: (s: AgentSvid) => void): void {
    this.listeners.svid.add(fn);
  }

  onBundle(fn: (b: Bundle) => void): void {
    this.listeners.bundle.add(fn);
  }

  onTerminal(fn: (e: NodeIdentityError) => void): void {
    this.listeners.terminal.add(fn);
  }

  /** Loads or obtains the agent SVID; then keeps it and the bundle fresh until {@link stop}. */
  async start(): Promise<void> {
    const td = this.opts.trustDomain;
    const stored = await this.storage.load();
    for (const w of stored.warnings) this.log.warn(w);
    const files = [SVID_FILE, KEY_FILE, BUNDLE_FILE, DATA_FILE].map((f) => join(this.opts.dataDir, f)).join(', ');
    let storedSvid: AgentSvid | undefined;
    if (stored.svid && stored.key) {
      try {
        storedSvid = checkAgentSvid(stored.svid, stored.key, stored.data?.trust_domain ?? td, undefined);
      } catch (err) {
        this.log.warn(`The persisted agent SVID is unusable (${(err as Error).message}); attesting again`);
      }
    }
    const storedTd = stored.data?.trust_domain ?? (storedSvid ? new URL(storedSvid.spiffeId).host : undefined);
    if (storedTd !== undefined && storedTd !== td) {
      throw new NodeIdentityError(
        'ERR_NODE_START',
        `data_dir ${this.opts.dataDir} holds the identity of an agent of trust domain "${storedTd}"${stored.data?.spiffe_id ? ` (${stored.data.spiffe_id})` : ''}, but trust_domain is "${td}": ` +
          `point data_dir elsewhere, or remove ${files} to attest as a new agent of "${td}"`,
      );
    }
    let bundle: Bundle | undefined;
    let rootsSource: string;
    if (stored.bundle) {
      bundle = { trustDomain: td, x509Authorities: stored.bundle, jwtAuthorities: [], refreshHint: 0, sequenceNumber: 0 };
      rootsSource = `the bundle cached in ${join(this.opts.dataDir, BUNDLE_FILE)}`;
    } else {
      bundle = await loadBootstrapBundle(this.opts.trustBundle, td);
      rootsSource = describeSource(this.opts.trustBundle);
    }

    const svidValid = storedSvid !== undefined && Date.now() + EXPIRY_SKEW_MS < storedSvid.notAfter;
    if (storedSvid && svidValid && !bundle) {
      // SPIRE: "SVID loaded but no bundle in cache" — the server cannot be authenticated for the SVID's renewals.
      throw new NodeIdentityError(
        'ERR_NODE_START',
        `the agent SVID in ${join(this.opts.dataDir, SVID_FILE)} is valid but there is no cached trust bundle (${join(this.opts.dataDir, BUNDLE_FILE)}) and insecure_bootstrap provides none: ` +
          'restore the bundle file or configure trust_bundle_path / trust_bundle_url',
      );
    }
    if (storedSvid && svidValid && bundle) {
      this.current = storedSvid;
      this.bundleValue = bundle;
      this.reattestableValue = stored.data?.reattestable ?? false;
      this.connection.setCredentials({ roots: bundle.x509Authorities, rootsSource, svid: { chain: storedSvid.chain, key: storedSvid.key } });
      this.log.info('SVID loaded', { spiffe_id: storedSvid.spiffeId, expires_at: new Date(storedSvid.notAfter).toISOString() });
    } else {
      if (storedSvid) {
        this.log.warn('SVID key recovered, but SVID is expired. Generating new keypair', { expiry: new Date(storedSvid.notAfter).toISOString() });
        const usedToken = storedSvid.spiffeId.endsWith(`/spire/agent/${JOIN_TOKEN_TYPE}/${this.opts.joinToken ?? ''}`);
        if (this.attestor instanceof JoinTokenAttestor && usedToken) {
          throw new NodeIdentityError(
            'ERR_NODE_START',
            `agent SVID expired and join token ${this.opts.joinToken ?? ''} already used (it attested ${storedSvid.spiffeId}; a join token is valid once): ` +
              'create a new token with `spire-server token generate` and pass -joinToken',
          );
        }
      } else this.log.info('SVID is not found. Starting node attestation');
      if (!this.attestor) throw new NodeIdentityError('ERR_NODE_START', this.nothingToAttestWith(storedSvid, stored.data));
      if (!bundle) this.log.warn('Insecure bootstrap enabled: the first attestation does not authenticate the SPIRE server');
      this.connection.setCredentials({ roots: bundle?.x509Authorities, rootsSource });
      await this.attest();
    }
    this.schedule();
  }

  /** Why the agent cannot start without an attestor, in terms of what data_dir and the configuration say. */
  private nothingToAttestWith(expired: AgentSvid | undefined, data: AgentData | undefined): string {
    if (expired) {
      return `agent SVID in ${join(this.opts.dataDir, SVID_FILE)} expired at ${new Date(expired.notAfter).toISOString()} and no join token or NodeAttestor is configured to attest again`;
    }
    if (!this.opts.joinTokenAttestor) return 'the agent has no SVID and nothing to attest with: set join_token (or -joinToken) or configure a NodeAttestor plugin';
    const newToken = 'join_token attestation needs a new token: create one with `spire-server token generate` and set join_token (or -joinToken)';
    const who = data?.spiffe_id ? ` (${data.spiffe_id})` : '';
    switch (data?.lost?.reason) {
      case 'evicted':
        return `the server no longer knows this agent${who}: it was evicted and its SVID removed at ${data.lost.at}; the agent must attest again, and ${newToken}`;
      case 'banned':
        return `the server banned this agent${who} and its SVID was removed at ${data.lost.at}; to attest as a new agent, ${newToken}`;
      case 'lost':
        return `this agent's SVID${who} was removed at ${data.lost.at}${data.lost.error ? ` (${data.lost.error})` : ''}; the agent must attest again, and ${newToken}`;
      default:
        return data?.spiffe_id
          ? `the agent SVID of ${data.spiffe_id} is no longer in ${this.opts.dataDir}; the agent must attest again, and ${newToken}`
          : `the agent has no SVID yet and NodeAttestor "join_token" has no token: create one with \`spire-server token generate\` and set join_token (or -joinToken)`;
    }
  }

  /** Full node attestation on the current connection; persists and switches to the new SVID and bundle. */
  private async attest(): Promise<void> {
    const attestor = this.attestor;
    if (!attestor) throw new NodeIdentityError('ERR_NODE_ATTEST', 'no node attestor configured');
    const key = newAgentKey();
    let res: { chain: Uint8Array[]; reattestable: boolean };
    let bundle: Bundle;
    try {
      res = await attestAgent(this.connection, attestor, key);
      bundle = await this.api.getBundle();
    } catch (err) {
      if (err instanceof NodeIdentityError) throw err;
      const reason = deniedReason(err);
      if (reason === 'AGENT_BANNED') throw new NodeIdentityError('ERR_NODE_BANNED', `node attestation refused: agent is banned (${describeError(err)})`, { cause: err });
      throw new NodeIdentityError('ERR_NODE_ATTEST', `node attestation with ${attestor.name} failed: ${describeError(err)}`, { cause: err });
    }
    let svid: AgentSvid;
    try {
      svid = checkAgentSvid(res.chain, key, this.opts.trustDomain, bundle.x509Authorities);
    } catch (err) {
      throw new NodeIdentityError('ERR_NODE_ATTEST', `node attestation with ${attestor.name} returned an unusable SVID: ${(err as Error).message}`, { cause: err });
    }
    await this.storage.saveBundle(bundle.x509Authorities);
    await this.storage.saveSvid(svid.chain, key, { trust_domain: this.opts.trustDomain, reattestable: res.reattestable, spiffe_id: svid.spiffeId });
    this.reattestableValue = res.reattestable;
    this.bundleValue = bundle;
    this.install(svid);
    this.log.info('Node attestation was successful', { spiffe_id: svid.spiffeId, reattestable: res.reattestable });
  }

  private install(svid: AgentSvid): void {
    this.current = svid;
    this.connection.setCredentials({ roots: this.bundle.x509Authorities, rootsSource: "the server's trust bundle", svid: { chain: svid.chain, key: svid.key } });
    for (const fn of this.listeners.svid) fn(svid);
  }

  /** When the SVID should be renewed: half-way through its life (SPIRE's rotationutil). */
  renewalDue(svid: AgentSvid = this.svid): number {
    return svid.notBefore + (svid.notAfter - svid.notBefore) / 2;
  }

  private schedule(): void {
    this.timer(Math.max(0, this.renewalDue() - Date.now()), () => this.rotateLoop());
    const every = this.opts.bundleRefreshMs ?? DEFAULT_BUNDLE_REFRESH_MS;
    const refresh = (): void => {
      this.timer(every, async () => {
        await this.refreshBundle().catch((err: unknown) => this.handleFailure(err, 'refresh the trust bundle'));
        refresh();
      });
    };
    refresh();
  }

  private timer(ms: number, fn: () => unknown): void {
    if (this.stopped || this.terminalError) return;
    ms = Math.min(ms, MAX_TIMER_MS);
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped && !this.terminalError) void fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.busy.then(fn, fn);
    this.busy = p.catch(() => undefined);
    return p;
  }

  private async rotateLoop(): Promise<void> {
    if (Date.now() < this.renewalDue()) {
      // Woken early (timers are capped at MAX_TIMER_MS): wait on.
      this.timer(this.renewalDue() - Date.now(), () => this.rotateLoop());
      return;
    }
    try {
      await this.serial(() => this.rotateNow());
      this.renewalAlarm = undefined;
      this.timer(Math.max(0, this.renewalDue() - Date.now()), () => this.rotateLoop());
    } catch (err) {
      if (this.handleFailure(err, this.reattestableValue ? 'reattest agent' : 'renew agent SVID', false)) return;
      if (Date.now() >= this.svid.notAfter) {
        this.fatal(new NodeIdentityError('ERR_NODE_IDENTITY_LOST', `current SVID has already expired and renewal failed: ${describeError(err)}`, { cause: err }));
        return;
      }
      this.reportRenewalFailure(err);
      this.timer(this.opts.retryMs ?? DEFAULT_RETRY_MS, () => this.rotateLoop());
    }
  }

  /**
   * A failed renewal of the agent SVID (past its renewal time, then): said
   * when it starts, when the SVID comes near expiry, and when the reason
   * changes; not on every retry.
   */
  private reportRenewalFailure(err: unknown): void {
    const svid = this.svid;
    const nearExpiry = svid.notAfter - Date.now() <= (svid.notAfter - svid.notBefore) * NEAR_EXPIRY_FRACTION;
    const error = describeError(err);
    const alarm = `${nearExpiry ? 'near-expiry' : 'overdue'}\n${error}`;
    if (alarm === this.renewalAlarm) return;
    this.renewalAlarm = alarm;
    const fields = { spiffe_id: svid.spiffeId, expires_at: new Date(svid.notAfter).toISOString(), error, retry_ms: this.opts.retryMs ?? DEFAULT_RETRY_MS };
    const what = this.reattestableValue ? 're-attested' : 'renewed';
    if (nearExpiry) this.log.error(`Agent SVID is about to expire and could not be ${what}; the agent stops serving when it expires`, fields);
    else this.log.warn(`Agent SVID is past its renewal time and could not be ${what}; retrying`, fields);
  }

  /** Renews now (RenewAgent with a new key, or re-attestation when the agent is reattestable). */
  rotate(): Promise<void> {
    return this.serial(() => this.rotateNow());
  }

  private async rotateNow(): Promise<void> {
    if (this.reattestableValue) {
      await this.attest();
      return;
    }
    const key = newAgentKey();
    let chain: Uint8Array[];
    try {
      chain = await renewAgent(this.connection, key);
    } catch (err) {
      if (deniedReason(err) === 'AGENT_MUST_REATTEST') {
        this.log.info('The server requires re-attestation instead of renewal; reattesting');
        await this.attest();
        return;
      }
      throw err;
    }
    const svid = checkAgentSvid(chain, key, this.opts.trustDomain, this.bundle.x509Authorities);
    await this.storage.saveSvid(svid.chain, key, { trust_domain: this.opts.trustDomain, reattestable: false, spiffe_id: svid.spiffeId });
    this.install(svid);
    this.log.info('Agent SVID renewed', { spiffe_id: svid.spiffeId, expires_at: new Date(svid.notAfter).toISOString() });
  }

  /** GetBundle over mTLS; persists and reconnects when the X.509 roots changed. */
  refreshBundle(): Promise<void> {
    return this.serial(() => this.refreshBundleNow());
  }

  private async refreshBundleNow(): Promise<void> {
    const b = await this.api.getBundle();
    if (b.x509Authorities.length === 0) throw new Error('the server returned a bundle without X.509 authorities');
    const old = this.bundle;
    const same = (x: readonly Uint8Array[], y: readonly Uint8Array[]): boolean => x.length === y.length && x.every((c, i) => Buffer.compare(c, y[i] as Uint8Array) === 0);
    const rootsChanged = !same(old.x509Authorities, b.x509Authorities);
    const changed = rootsChanged || old.sequenceNumber !== b.sequenceNumber || JSON.stringify(old.jwtAuthorities.map((k) => k.keyId)) !== JSON.stringify(b.jwtAuthorities.map((k) => k.keyId));
    this.bundleValue = b;
    if (rootsChanged) {
      await this.storage.saveBundle(b.x509Authorities);
      this.connection.setCredentials({ roots: b.x509Authorities, rootsSource: "the server's trust bundle", svid: { chain: this.svid.chain, key: this.svid.key } });
    }
    if (changed) for (const fn of this.listeners.bundle) fn(b);
  }

  /** Terminal conditions from a server answer; true when the identity is lost for good. Anything else is logged unless `log` is false. */
  private handleFailure(err: unknown, what: string, log = true): boolean {
    const terminal = terminalDenial(err, what);
    if (terminal) {
      this.fatal(terminal);
      return true;
    }
    const reason = deniedReason(err);
    if (reason === 'AGENT_EXPIRED' || reason === 'AGENT_NOT_ACTIVE') {
      const refused = `the server no longer accepts this agent's SVID (${reason}) and refused to ${what}`;
      // SPIRE's manager: an agent whose attestor can re-attest does so; only if that fails is the identity lost.
      if (this.reattestableValue && this.attestor && !(this.attestor instanceof JoinTokenAttestor)) {
        if (!this.reattesting) {
          this.reattesting = true;
          this.log.warn('Agent needs to re-attest; will attempt to re-attest', { reason, error: describeError(err) });
          this.serial(() => this.attest()).then(
            () => {
              this.reattesting = false;
            },
            (e: unknown) => {
              this.reattesting = false;
              this.fatal(new NodeIdentityError('ERR_NODE_IDENTITY_LOST', `${refused}, and re-attestation failed: ${describeError(e)}`, { cause: e }));
            },
          );
        }
        return false;
      }
      this.fatal(new NodeIdentityError('ERR_NODE_IDENTITY_LOST', `${refused}; the agent must attest again (${describeError(err)})`, { cause: err }));
      return true;
    }
    if (err instanceof NodeIdentityError && (err.code === 'ERR_NODE_BANNED' || err.code === 'ERR_NODE_EVICTED' || err.code === 'ERR_NODE_IDENTITY_LOST' || err.code === 'ERR_NODE_START')) {
      this.fatal(err);
      return true;
    }
    if (log) this.log.error(`Could not ${what}`, { error: describeError(err) });
    return false;
  }

  private fatal(err: NodeIdentityError): void {
    if (this.terminalError) return;
    this.terminalError = err;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    // As SPIRE's agent: an SVID the server refuses for good is removed, so the
    // next start attests again (and a banned agent is refused there) instead of
    // presenting it. Listeners hear of the loss once the files are gone.
    const lost = err.code === 'ERR_NODE_BANNED' || err.code === 'ERR_NODE_EVICTED' || err.code === 'ERR_NODE_IDENTITY_LOST';
    if (!lost) {
      this.log.error(err.message);
      for (const fn of this.listeners.terminal) fn(err);
      return;
    }
    const why = err.code === 'ERR_NODE_BANNED' ? 'Agent is banned' : 'Agent needs to re-attest';
    this.log.error(`${why}: removing SVID and shutting down`, { error: err.message });
    const reason = err.code === 'ERR_NODE_BANNED' ? 'banned' : err.code === 'ERR_NODE_EVICTED' ? 'evicted' : 'lost';
    this.svidRemoval = this.storage.deleteSvid({ reason, at: new Date().toISOString(), error: err.message }).then(
      () => undefined,
      (e: unknown) => this.log.error('Failed to remove SVID', { error: describeError(e) }),
    );
    void this.svidRemoval.then(() => {
      for (const fn of this.listeners.terminal) fn(err);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.busy;
    await this.svidRemoval;
    this.connection.close();
  }
}
