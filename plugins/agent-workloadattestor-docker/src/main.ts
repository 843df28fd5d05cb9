#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { dockerWorkloadAttestorPlugin } from './plugin.js';

await serve(dockerWorkloadAttestorPlugin({ log: createLogger() }));
