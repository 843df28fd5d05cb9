#!/usr/bin/env node
import { serve } from '@spire-ts/plugin-sdk';
import { agentDiskKeyManagerPlugin } from './plugin.js';

await serve(agentDiskKeyManagerPlugin());
