/** `grpc.health.v1.Health` on the admin socket: "" (the server) is SERVING while it runs and its plugins answer. */
import type { ServiceImpl } from '@spire-ts/plugin-sdk';
import { notFound } from './errors.js';

type ServingStatus = 'SERVING' | 'NOT_SERVING';

/** The health service; `status()` is asked on every call. */
export function healthService(status: () => Promise<ServingStatus> | ServingStatus): ServiceImpl<'grpc.health.v1.Health'> {
  const known = new Set(['', 'spire-server']);
  return {
    async Check(req) {
      if (!known.has(req.service)) throw notFound(`unknown service ${JSON.stringify(req.service)}`);
      return { status: await status() };
    },
    async List() {
      const s = await status();
      return { statuses: { '': { status: s } } };
    },
    Watch(call) {
      const req = call.request;
      if (!known.has(req.service)) {
        call.write({ status: 'SERVICE_UNKNOWN' });
        return;
      }
      let last: ServingStatus | undefined;
      const tick = (): void => {
        void Promise.resolve(status()).then((s) => {
          if (call.cancelled || s === last) return;
          last = s;
          call.write({ status: s });
        });
      };
      tick();
      const timer = setInterval(tick, 5000);
      call.on('cancelled', () => clearInterval(timer));
      call.on('close', () => clearInterval(timer));
    },
  };
}
