#!/usr/bin/env node
import { serve } from '@spire-ts/plugin-sdk';
import { diskKeyManagerPlugin } from './plugin.js';

await serve(diskKeyManagerPlugin());
