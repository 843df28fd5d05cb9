#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { gcpIitAgentPlugin } from './plugin.js';

await serve(gcpIitAgentPlugin({ log: createLogger() }));
