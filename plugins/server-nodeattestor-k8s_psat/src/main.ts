#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { k8sPsatServerPlugin } from './plugin.js';

await serve(k8sPsatServerPlugin({ log: createLogger() }));
