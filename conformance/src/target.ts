import { resolveBuiltIn, serviceFor, type LaunchSpec } from '@spire-ts/common';
import { isPluginType, type PluginSide, type PluginType } from '@spire-ts/plugin-sdk';
import type { ServiceName } from '@spire-ts/proto';

/** The plugin under test: how to start it and what it should implement. */
export interface PluginTarget {
  side: PluginSide;
  type: PluginType;
  name: string;
  service: ServiceName;
  launch: LaunchSpec;
  /** `plugin_data` that configures it successfully. */
  pluginData: string;
  trustDomain: string;
}

/** Parses `server:KeyManager:memory` into a target for a built-in plugin. */
export function builtInTarget(spec: string, pluginData = '', trustDomain = 'example.org'): PluginTarget {
  const parts = spec.split(':');
  if (parts.length !== 3) throw new Error(`--plugin wants side:Type:name (e.g. server:KeyManager:memory), got ${JSON.stringify(spec)}`);
  const [side, type, name] = parts as [string, string, string];
  if (side !== 'server' && side !== 'agent') throw new Error(`unknown side ${JSON.stringify(side)} (want server or agent)`);
  if (!isPluginType(type)) throw new Error(`unknown plugin type ${JSON.stringify(type)}`);
  const bin = resolveBuiltIn(side, type, name);
  if (!bin) throw new Error(`no built-in ${side} ${type} plugin named ${JSON.stringify(name)}`);
  return {
    side,
    type,
    name,
    service: serviceFor(side, type),
    launch: { type, name, command: bin.command, args: bin.args },
    pluginData,
    trustDomain,
  };
}

/** A target for any plugin binary (a third party's, in any language). */
export function externalTarget(opts: {
  type: string;
  command: string;
  args?: string[];
  side?: PluginSide;
  name?: string;
  pluginData?: string;
  trustDomain?: string;
}): PluginTarget {
  if (!isPluginType(opts.type)) throw new Error(`unknown plugin type ${JSON.stringify(opts.type)}`);
  const side = opts.side ?? 'server';
  const name = opts.name ?? 'external';
  return {
    side,
    type: opts.type,
    name,
    service: serviceFor(side, opts.type),
    launch: { type: opts.type, name, command: opts.command, args: opts.args ?? [] },
    pluginData: opts.pluginData ?? '',
    trustDomain: opts.trustDomain ?? 'example.org',
  };
}
