#!/usr/bin/env node
import { createLogger, serve } from '@spire-ts/plugin-sdk';
import { awsIidServerPlugin } from './plugin.js';

// The SDK's notice about its future Node.js requirement is not actionable in a plugin's log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

await serve(awsIidServerPlugin({ log: createLogger() }));
