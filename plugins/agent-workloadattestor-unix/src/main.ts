#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { unixWorkloadAttestorPlugin } from './plugin.js';

await serve(unixWorkloadAttestorPlugin({ log: createLogger() }));
