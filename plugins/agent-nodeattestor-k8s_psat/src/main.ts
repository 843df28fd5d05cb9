#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { k8sPsatAgentPlugin } from './plugin.js';

await serve(k8sPsatAgentPlugin({ log: createLogger() }));
