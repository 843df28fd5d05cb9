import { APP_PROTOCOL_VERSION, CORE_PROTOCOL_VERSION } from '@spire-ts/plugin-sdk';

/** A parsed go-plugin handshake line. */
export interface Handshake {
  coreVersion: number;
  appVersion: number;
  network: 'unix' | 'tcp';
  address: string;
  protocol: 'grpc';
}

export class HandshakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandshakeError';
  }
}

function show(line: string): string {
  const s = line.length > 200 ? line.slice(0, 200) + '…' : line;
  return JSON.stringify(s);
}

/**
 * Parses `CORE|APP|NETWORK|ADDR|PROTOCOL|CERT` as go-plugin's client does,
 * with messages that say what was wrong. SPIRE runs with AutoMTLS off, so a
 * server certificate in field 6 is refused.
 */
export function parseHandshake(line: string, accepted: readonly number[] = [APP_PROTOCOL_VERSION]): Handshake {
  const trimmed = line.replace(/\r?\n$/, '');
  const parts = trimmed.split('|');
  if (parts.length < 4) {
    throw new HandshakeError(`malformed handshake line ${show(trimmed)}: expected "CORE|APP|NETWORK|ADDRESS|PROTOCOL|" (did the plugin print something else to stdout first?)`);
  }
  const [core, app, network, address, protocol = 'netrpc', cert = ''] = parts as [string, string, string, string, string?, string?];
  if (core !== String(CORE_PROTOCOL_VERSION)) {
    throw new HandshakeError(`handshake ${show(trimmed)}: unsupported core protocol version ${JSON.stringify(core)} (want ${CORE_PROTOCOL_VERSION})`);
  }
  const appVersion = Number(app);
  if (!/^\d+$/.test(app) || !accepted.includes(appVersion)) {
    throw new HandshakeError(`handshake ${show(trimmed)}: plugin speaks protocol version ${JSON.stringify(app)}, host accepts ${accepted.join(', ')}`);
  }
  if (network !== 'unix' && network !== 'tcp') {
    throw new HandshakeError(`handshake ${show(trimmed)}: unsupported network ${JSON.stringify(network)} (want unix or tcp)`);
  }
  if (address === '') throw new HandshakeError(`handshake ${show(trimmed)}: empty address`);
  if (protocol !== 'grpc') {
    throw new HandshakeError(`handshake ${show(trimmed)}: unsupported plugin protocol ${JSON.stringify(protocol)} (only grpc is supported)`);
  }
  if (cert.length > 50) {
    throw new HandshakeError(`handshake ${show(trimmed)}: plugin offered a TLS certificate but AutoMTLS is not enabled (was PLUGIN_CLIENT_CERT set?)`);
  }
  return { coreVersion: CORE_PROTOCOL_VERSION, appVersion, network, address, protocol: 'grpc' };
}
