// In-process plugin serving for these tests, from the conformance kit.
import { servePluginInProcess, rejection, type InProcessPlugin } from '@spire-ts/conformance';
import type { PluginDefinition } from '@spire-ts/plugin-sdk';

type KM = 'spire.plugin.agent.keymanager.v1.KeyManager';

export type InProcess = InProcessPlugin<KM> & { km: InProcessPlugin<KM>['client'] };

export async function inProcess<C>(def: PluginDefinition<KM, C>): Promise<InProcess> {
  const p = await servePluginInProcess(def);
  return Object.assign(p, { km: p.client });
}

export { rejection };
