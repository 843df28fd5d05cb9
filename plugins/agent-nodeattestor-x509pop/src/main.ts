#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { x509PopAgentPlugin } from './plugin.js';

await serve(x509PopAgentPlugin({ log: createLogger() }));
