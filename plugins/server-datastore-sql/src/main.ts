#!/usr/bin/env node
import { serve } from '@spire-ts/plugin-sdk';
import { sqlDataStorePlugin } from './plugin.js';

await serve(sqlDataStorePlugin());
