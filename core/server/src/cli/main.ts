#!/usr/bin/env node
/**
 * The `spire-server` executable.
 *
 * @module
 */

import { runProcessCli } from '@spire-ts/common';
import { main } from './commands.js';

await runProcessCli(main, new URL('../../package.json', import.meta.url));
