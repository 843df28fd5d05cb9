/** The environment variable that carries the target from the CLI to the vitest runner. */
export const RUNNER_ENV = 'SPIRE_CONFORMANCE_DATASTORE';
