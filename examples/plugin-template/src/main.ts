#!/usr/bin/env node
import { serve } from '@spire-ts/plugin-sdk';
import { templatePlugin } from './plugin.js';

await serve(templatePlugin());
