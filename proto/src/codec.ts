/**
 * A lightweight codec for the plugin side: message encoders and decoders for
 * every service, built from descriptors precompiled at build time
 * (descriptors/<service>.json) with protobufjs/light — no .proto parsing, no grpc-js.
 * JS shapes are exactly those of {@link LOADER_OPTIONS} (proto-loader with
 * keepCase, longs as Number, enums as String, defaults, oneofs), so both ends
 * of a connection agree whichever loader they use.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Protobuf from 'protobufjs';
import type { ServiceTypes } from './gen/services.js';

const require = createRequire(import.meta.url);

export interface MethodCodec {
  /** `/package.Service/Method` */
  path: string;
  name: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

const CONVERSION: Protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, oneofs: true };

/** Reflection for one service, from its own descriptor file (built by scripts/generate.mjs). */
function loadService(name: string): Protobuf.Service {
  const pb = require('protobufjs/light') as typeof Protobuf;
  if (!/^[A-Za-z0-9_.]+$/.test(name)) throw new TypeError(`proto: bad service name ${JSON.stringify(name)}`);
  const file = fileURLToPath(new URL(`../descriptors/${name}.json`, import.meta.url));
  let json: Protobuf.INamespace;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as Protobuf.INamespace;
  } catch (err) {
    throw new TypeError(`proto: no descriptor for service ${name} (${(err as Error).message})`);
  }
  const root = pb.Root.fromJSON(json);
  root.resolveAll();
  return root.lookupService(name);
}

function serializer(type: Protobuf.Type): (value: unknown) => Buffer {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`cannot serialize an array as ${type.name}`);
    const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(type: Protobuf.Type): (bytes: Buffer) => unknown {
  return (bytes) => type.toObject(type.decode(bytes), CONVERSION);
}

const cache = new Map<string, Record<string, MethodCodec>>();

/** Codecs for every method of a service, keyed by method name. */
export function serviceCodecs(name: keyof ServiceTypes | string): Record<string, MethodCodec> {
  const hit = cache.get(name);
  if (hit) return hit;
  const service = loadService(name);
  const out: Record<string, MethodCodec> = {};
  for (const m of service.methodsArray) {
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    out[m.name] = {
      path: `/${name}/${m.name}`,
      name: m.name,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
    };
  }
  cache.set(name, out);
  return out;
}
