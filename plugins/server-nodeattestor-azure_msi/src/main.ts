#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { azureMsiServerPlugin } from './plugin.js';

await serve(azureMsiServerPlugin({ log: createLogger() }));
