#!/usr/bin/env node
/**
 * The `spire-agent` executable.
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { main } from './commands.js';

function version(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version;
  } catch {
    return undefined;
  }
}

const v = version();
const code = await main(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  readFile: (path) => readFileSync(path, 'utf8'),
  cwd: process.cwd(),
  env: process.env,
  ...(v ? { version: v } : {}),
});
process.exit(code);
