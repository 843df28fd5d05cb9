import { describe, expect, it } from 'vitest';
import { PluginError, Status, isServiceError, statusName, toServiceError } from '@spire-ts/plugin-sdk';

describe('PluginError', () => {
  it('carries a code and details', () => {
    const err = new PluginError(Status.INVALID_ARGUMENT, 'key_id is required', { cause: new Error('inner') });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.name).toBe('PluginError');
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.details).toBe('key_id is required');
    expect(err.message).toBe('key_id is required');
    expect((err.cause as Error).message).toBe('inner');
  });

  it('instanceof works for a structurally separate copy (global Symbol.for marker)', () => {
    // What another copy of the SDK's PluginError looks like from here: no shared class, only the marker.
    const foreign = Object.assign(new Error('from another copy'), { code: Status.NOT_FOUND, details: 'from another copy' });
    Object.defineProperty(foreign, Symbol.for('@spire-ts/plugin-sdk/PluginError'), { value: true });
    expect(foreign instanceof PluginError).toBe(true);
    expect(toServiceError(foreign)).toEqual({ code: Status.NOT_FOUND, details: 'from another copy' });

    const plain = { [Symbol.for('@spire-ts/plugin-sdk/PluginError')]: true, code: Status.ABORTED, details: 'plain object' };
    expect(plain instanceof PluginError).toBe(true);
  });

  it('instanceof is false without the marker, or with a falsy one', () => {
    expect(new Error('x') instanceof PluginError).toBe(false);
    expect({ code: 3, details: 'x' } instanceof PluginError).toBe(false);
    expect({ [Symbol.for('@spire-ts/plugin-sdk/PluginError')]: 'yes' } instanceof PluginError).toBe(false);
    expect((null as unknown as object) instanceof PluginError).toBe(false);
    expect(('PluginError' as unknown as object) instanceof PluginError).toBe(false);
  });

  it('shorthands pick the code', () => {
    expect(PluginError.invalidArgument('a').code).toBe(Status.INVALID_ARGUMENT);
    expect(PluginError.notFound('a').code).toBe(Status.NOT_FOUND);
    expect(PluginError.internal('a').code).toBe(Status.INTERNAL);
    expect(PluginError.failedPrecondition('a').code).toBe(Status.FAILED_PRECONDITION);
    expect(PluginError.unavailable('a').code).toBe(Status.UNAVAILABLE);
  });
});

describe('toServiceError / isServiceError / statusName', () => {
  it('maps anything thrown to a gRPC status', () => {
    expect(toServiceError(PluginError.notFound('no key'))).toEqual({ code: Status.NOT_FOUND, details: 'no key' });
    expect(toServiceError(new Error('boom'))).toEqual({ code: Status.INTERNAL, details: 'boom' });
    expect(toServiceError('a string')).toEqual({ code: Status.INTERNAL, details: 'a string' });
    const grpcErr = Object.assign(new Error('14 UNAVAILABLE: gone'), { code: Status.UNAVAILABLE, details: 'gone' });
    expect(toServiceError(grpcErr)).toEqual({ code: Status.UNAVAILABLE, details: 'gone' });
  });

  it('isServiceError needs an Error with numeric code and string details', () => {
    expect(isServiceError(Object.assign(new Error('x'), { code: 5, details: 'x' }))).toBe(true);
    expect(isServiceError(Object.assign(new Error('x'), { code: 'ENOENT', details: 'x' }))).toBe(false);
    expect(isServiceError({ code: 5, details: 'x' })).toBe(false);
  });

  it('statusName', () => {
    expect(statusName(Status.INVALID_ARGUMENT)).toBe('INVALID_ARGUMENT');
    expect(statusName(0)).toBe('OK');
    expect(statusName(99)).toBe('CODE_99');
  });
});
