#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { k8sWorkloadAttestorPlugin } from './plugin.js';

await serve(k8sWorkloadAttestorPlugin({ log: createLogger() }));
