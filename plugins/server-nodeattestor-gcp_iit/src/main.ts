#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { gcpIitServerPlugin } from './plugin.js';

await serve(gcpIitServerPlugin({ log: createLogger() }));
