#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { x509PopServerPlugin } from './plugin.js';

await serve(x509PopServerPlugin({ log: createLogger() }));
