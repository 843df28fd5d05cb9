#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { azureImdsAgentPlugin } from './plugin.js';

await serve(azureImdsAgentPlugin({ log: createLogger() }));
