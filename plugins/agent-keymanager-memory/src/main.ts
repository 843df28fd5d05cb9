#!/usr/bin/env node
import { serve } from '@spire-ts/plugin-sdk';
import { agentMemoryKeyManagerPlugin } from './plugin.js';

await serve(agentMemoryKeyManagerPlugin());
