#!/usr/bin/env node
import { serve } from '@spire-ts/plugin-sdk';
import { memoryKeyManagerPlugin } from './keymanager.js';

await serve(memoryKeyManagerPlugin());
