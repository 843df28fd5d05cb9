#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { tpmDevIdAgentPlugin } from './plugin.js';

await serve(tpmDevIdAgentPlugin({ log: createLogger() }));
