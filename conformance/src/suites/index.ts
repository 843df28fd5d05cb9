import type { Logger } from '@spire-ts/common';
import type { Suite } from '../harness.js';
import type { PluginTarget } from '../target.js';
import { keyManagerSuite } from './keymanager.js';
import { lifecycleSuite } from './lifecycle.js';

/** Every suite that applies to a target: lifecycle for all, plus its type's contract. */
export function suitesFor(target: PluginTarget, log?: Logger): Array<Suite<unknown>> {
  const suites: Array<Suite<unknown>> = [erase(lifecycleSuite(target, log))];
  if (target.type === 'KeyManager') suites.push(erase(keyManagerSuite(target, log)));
  return suites;
}

/** Suites own their context type; callers only run them. */
function erase<C>(suite: Suite<C>): Suite<unknown> {
  return suite as unknown as Suite<unknown>;
}
