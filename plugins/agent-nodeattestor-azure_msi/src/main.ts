#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { azureMsiAgentPlugin } from './plugin.js';

await serve(azureMsiAgentPlugin({ log: createLogger() }));
