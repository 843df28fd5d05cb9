#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { awsIidAgentPlugin } from './plugin.js';

await serve(awsIidAgentPlugin({ log: createLogger() }));
