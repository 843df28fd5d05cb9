#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { azureImdsServerPlugin } from './plugin.js';

await serve(azureImdsServerPlugin({ log: createLogger() }));
