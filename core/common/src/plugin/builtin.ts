import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PluginSide, PluginType } from '@spire-ts/plugin-sdk';

/** npm package of a built-in plugin: `@spire-ts/<side>-<type>-<name>`. */
export function builtInPackageName(side: PluginSide, type: PluginType, name: string): string {
  return `@spire-ts/${side}-${type.toLowerCase()}-${name}`;
}

export interface BuiltInCommand {
  command: string;
  args: string[];
  /** The plugin's JS entry file. */
  entry: string;
}

/** node_modules directories from this file up to the root (how Node finds packages). */
function nodeModulesDirs(): string[] {
  const dirs: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const nm = join(dir, 'node_modules');
    if (existsSync(nm)) dirs.push(nm);
    const up = dirname(dir);
    if (up === dir) return dirs;
    dir = up;
  }
}

// Found by walking node_modules rather than require.resolve: a package's
// `exports` map need not expose its package.json.
function packageDir(pkg: string): string | undefined {
  for (const nm of nodeModulesDirs()) {
    if (existsSync(join(nm, pkg, 'package.json'))) return join(nm, pkg);
  }
  return undefined;
}

/**
 * Where a built-in plugin's binary is. Built-ins are separate programs like
 * any plugin (the core never imports them): we run their `bin` with this
 * Node.js.
 */
export function resolveBuiltIn(side: PluginSide, type: PluginType, name: string): BuiltInCommand | undefined {
  if (!/^[a-z0-9_-]+$/.test(name)) return undefined;
  const dir = packageDir(builtInPackageName(side, type, name));
  if (!dir) return undefined;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin ? Object.values(pkg.bin)[0] : undefined;
  if (!bin) return undefined;
  const entry = join(dir, bin);
  if (!existsSync(entry)) return undefined;
  return { command: process.execPath, args: [entry], entry };
}

/** Names of the built-in plugins of one (side, type) that are installed. */
export function listBuiltIns(side: PluginSide, type: PluginType): string[] {
  const prefix = `${side}-${type.toLowerCase()}-`;
  const names = new Set<string>();
  for (const nm of nodeModulesDirs()) {
    const scope = join(nm, '@spire-ts');
    if (!existsSync(scope)) continue;
    for (const entry of readdirSync(scope)) if (entry.startsWith(prefix)) names.add(entry.slice(prefix.length));
  }
  return [...names].sort();
}
