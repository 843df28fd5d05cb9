import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import {
  ConfigError,
  PLUGIN_SERVICE_NAMES,
  isPluginType,
  printHCL,
  s,
  type ConfigIssue,
  type Infer,
  type PluginSide,
  type Pos,
} from '@spire-ts/plugin-sdk';
import type { PluginDeclaration } from './catalog.js';

/** One `<Type> "<name>" { ... }` block, as SPIRE documents it. */
export const pluginBlockSchema = s.object({
  plugin_cmd: s.string({ nonEmpty: true }),
  plugin_args: s.list(s.string()),
  plugin_checksum: s.string({ check: (v) => (/^[0-9a-fA-F]{64}$/.test(v) ? undefined : 'must be the hex SHA-256 of the plugin executable (64 hex digits)') }),
  plugin_data: s.raw(),
  plugin_data_file: s.string({ nonEmpty: true }),
  enabled: s.bool({ default: true }),
});

/** The `plugins { ... }` block: types in order, each with its named plugins in order. */
export const pluginsSchema = s.entries(s.entries(pluginBlockSchema, { unique: true }));

export type PluginsConfig = Infer<typeof pluginsSchema>;

function issue(pos: Pos, path: string, message: string): ConfigIssue {
  return { code: 'invalid', severity: 'error', message, path, pos };
}

/**
 * Turns the parsed `plugins` block into declarations for the catalog:
 * checks each type is one this side loads, that `plugin_data` and
 * `plugin_data_file` are not both set, and reads `plugin_data_file`
 * (relative to `baseDir`). Every problem is reported with its position.
 */
export function pluginDeclarations(
  plugins: PluginsConfig,
  opts: { side: PluginSide; baseDir?: string; readFile?: (path: string) => string },
): PluginDeclaration[] {
  const read = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const issues: ConfigIssue[] = [];
  const out: PluginDeclaration[] = [];
  const seen = new Map<string, Pos>();
  for (const typeEntry of plugins) {
    const type = typeEntry.key;
    const path = `plugins.${type}`;
    if (!isPluginType(type) || !PLUGIN_SERVICE_NAMES[opts.side][type]) {
      const known = Object.keys(PLUGIN_SERVICE_NAMES[opts.side]).join(', ');
      issues.push(issue(typeEntry.pos, path, `unknown plugin type "${type}" for spire-${opts.side} (known: ${known})`));
      continue;
    }
    for (const { key: name, pos, value } of typeEntry.value) {
      const where = `${path}.${name}`;
      const label = `${type} "${name}"`;
      const first = seen.get(where);
      if (first) {
        issues.push(issue(pos, where, `${type} "${name}" is declared more than once (first at line ${first.line})`));
        continue;
      }
      seen.set(where, pos);
      if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
        issues.push(issue(pos, where, `${type}: invalid plugin name "${name}" (letters, digits, ".", "_" and "-" only)`));
        continue;
      }
      if (value.plugin_data !== undefined && value.plugin_data_file !== undefined) {
        issues.push(issue(pos, where, `${label}: plugin_data and plugin_data_file are mutually exclusive`));
        continue;
      }
      if (value.plugin_args !== undefined && value.plugin_cmd === undefined) {
        issues.push(issue(pos, where, `${label}: plugin_args needs plugin_cmd`));
        continue;
      }
      let pluginData: string | undefined;
      if (value.plugin_data !== undefined) {
        pluginData = value.plugin_data.kind === 'object' ? printHCL(value.plugin_data) : undefined;
        if (pluginData === undefined) {
          issues.push(issue(value.plugin_data.pos, `${where}.plugin_data`, `${label}: plugin_data must be a block ({ ... })`));
          continue;
        }
      } else if (value.plugin_data_file !== undefined) {
        const file = isAbsolute(value.plugin_data_file) ? value.plugin_data_file : resolve(opts.baseDir ?? process.cwd(), value.plugin_data_file);
        try {
          pluginData = read(file);
        } catch (err) {
          issues.push(issue(pos, `${where}.plugin_data_file`, `${label}: cannot read plugin_data_file ${file}: ${err instanceof Error ? err.message : String(err)}`));
          continue;
        }
      }
      out.push({
        type,
        name,
        ...(value.plugin_cmd !== undefined ? { pluginCmd: value.plugin_cmd } : {}),
        ...(value.plugin_args !== undefined ? { pluginArgs: value.plugin_args } : {}),
        ...(value.plugin_checksum !== undefined ? { pluginChecksum: value.plugin_checksum.toLowerCase() } : {}),
        ...(pluginData !== undefined ? { pluginData } : {}),
        enabled: value.enabled,
      });
    }
  }
  if (issues.length) throw new ConfigError(issues);
  return out;
}
