// Pure parts: pod decoding, container lookup, selectors, pod list parsing.
import { describe, expect, it } from 'vitest';
import { makePod } from '../../../conformance/src/fixtures/kubelet.js';
import { KubeletError, PodDecodeError, containerIdOf, decodePod, imageIdentifiers, lookUpContainer, parsePodList, podSelectors } from '../src/index.js';

const ID = 'f'.repeat(64);

describe('container ids', () => {
  it('takes the host part of <runtime>://<id>', () => {
    expect(containerIdOf(`containerd://${ID}`)).toBe(ID);
    expect(containerIdOf(`cri-o://${ID}`)).toBe(ID);
    expect(containerIdOf(`docker://${ID}/extra`)).toBe(ID);
    expect(containerIdOf(ID)).toBeUndefined();
    expect(containerIdOf('://x')).toBeUndefined();
  });

  it('finds regular then init containers, skips empty ids, ignores ephemeral containers', () => {
    const raw = makePod({
      uid: 'u',
      name: 'p',
      namespace: 'n',
      serviceAccount: 's',
      nodeName: 'node',
      containers: [{ name: 'main', image: 'i', imageId: 'd', containerId: '1'.repeat(64) }],
      initContainers: [{ name: 'init', image: 'i', imageId: 'd', containerId: ID }],
    }) as { status: Record<string, unknown> };
    raw.status.ephemeralContainerStatuses = [{ name: 'debug', image: 'busybox', imageID: 'x', containerID: `containerd://${'e'.repeat(64)}` }];
    const pod = decodePod(raw);
    expect(lookUpContainer(ID, pod)?.name).toBe('init');
    expect(lookUpContainer('1'.repeat(64), pod)?.name).toBe('main');
    expect(lookUpContainer('e'.repeat(64), pod)).toBeUndefined();
    pod.containerStatuses[0]!.containerID = '';
    expect(lookUpContainer('1'.repeat(64), pod)).toBeUndefined();
  });
});

describe('selectors', () => {
  it('image ids and names without duplicates; empty values kept as SPIRE does', () => {
    expect(imageIdentifiers([
      { name: 'a', image: 'img:1', imageID: 'img@sha256:1', containerID: '' },
      { name: 'b', image: 'img:1', imageID: 'img@sha256:1', containerID: '' },
      { name: 'c', image: 'other:2', imageID: '', containerID: '' },
    ])).toEqual(['img@sha256:1', 'img:1', '', 'other:2']);
  });

  it('a pod with nothing optional', () => {
    const pod = decodePod({ metadata: { uid: 'u1', name: 'n1', namespace: 'ns1' }, spec: {}, status: {} });
    expect(podSelectors(pod)).toEqual(['sa:', 'ns:ns1', 'node-name:', 'pod-uid:u1', 'pod-name:n1', 'pod-image-count:0', 'pod-init-image-count:0']);
  });

  it('refuses wrongly typed fields', () => {
    expect(() => decodePod({ metadata: { labels: { a: 1 } } })).toThrow(PodDecodeError);
    expect(() => decodePod({ metadata: { labels: { a: 1 } } })).toThrow('metadata.labels["a"]: expected a string');
    expect(() => decodePod({ spec: { serviceAccountName: ['x'] } })).toThrow('spec.serviceAccountName: expected a string');
    expect(() => decodePod({ metadata: { ownerReferences: {} } })).toThrow('metadata.ownerReferences: expected an array');
    expect(() => decodePod('pod')).toThrow('pod: expected an object');
  });
});

describe('pod list', () => {
  const parse = (text: string) => parsePodList(Buffer.from(text), 'http://127.0.0.1:10255/pods');
  it('indexes pods by uid, skipping pods without one', () => {
    const pods = parse(JSON.stringify({ kind: 'PodList', items: [{ metadata: { uid: 'a' } }, { metadata: { name: 'x' } }, { metadata: { uid: 'b' } }] }));
    expect([...pods.keys()]).toEqual(['a', 'b']);
    expect(parse('{"items":null}').size).toBe(0);
  });
  it('refuses what is not a pod list', () => {
    expect(() => parse('nope')).toThrow(KubeletError);
    expect(() => parse('nope')).toThrow(/^unable to parse kubelet response from http:\/\/127\.0\.0\.1:10255\/pods: /);
    expect(() => parse('[]')).toThrow('invalid kubelet response: expected an object');
    expect(() => parse('{}')).toThrow('invalid kubelet response: expected an items array');
    expect(() => parse('{"items":{}}')).toThrow('invalid kubelet response: expected an items array');
  });
});
