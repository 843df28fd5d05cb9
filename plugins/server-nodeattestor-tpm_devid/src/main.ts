#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { tpmDevIdServerPlugin } from './plugin.js';

await serve(tpmDevIdServerPlugin({ log: createLogger() }));
