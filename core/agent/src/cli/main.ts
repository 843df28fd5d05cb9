#!/usr/bin/env node
/**
 * The `spire-agent` executable.
 *
 * The heap settings are applied before the rest of the agent is even loaded:
 * static imports would be fetched, parsed and compiled (allocating on the
 * heap they are meant to shape) before this module's body runs.
 *
 * @module
 */

import { applyHeapSettings } from './heap.js';

applyHeapSettings();
const { runProcessCli } = await import('@spire-ts/common');
const { main } = await import('./commands.js');
await runProcessCli(main, new URL('../../package.json', import.meta.url));
