/**
 * The parts of a v1 Pod the attestor reads, decoded from kubelet JSON with
 * type checks (a wrong type is an error, as Go's json.Unmarshal into
 * corev1.Pod; absent fields are empty), and SPIRE's selectors from them.
 */

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID: string;
}

export interface OwnerReference {
  kind: string;
  name: string;
  uid: string;
}

export interface Pod {
  uid: string;
  name: string;
  namespace: string;
  labels: Array<[string, string]>;
  ownerReferences: OwnerReference[];
  serviceAccountName: string;
  nodeName: string;
  containerStatuses: ContainerStatus[];
  initContainerStatuses: ContainerStatus[];
}

export class PodDecodeError extends Error {
  override readonly name = 'PodDecodeError';
}

type Obj = Record<string, unknown>;

function obj(v: unknown, path: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new PodDecodeError(`${path}: expected an object`);
  return v as Obj;
}

function str(v: unknown, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new PodDecodeError(`${path}: expected a string`);
  return v;
}

function arr(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PodDecodeError(`${path}: expected an array`);
  return v;
}

function statuses(v: unknown, path: string): ContainerStatus[] {
  return arr(v, path).map((s, i) => {
    const o = obj(s, `${path}[${i}]`);
    return {
      name: str(o.name, `${path}[${i}].name`),
      image: str(o.image, `${path}[${i}].image`),
      imageID: str(o.imageID, `${path}[${i}].imageID`),
      containerID: str(o.containerID, `${path}[${i}].containerID`),
    };
  });
}

export function decodePod(v: unknown): Pod {
  const pod = obj(v, 'pod');
  const md = obj(pod.metadata, 'metadata');
  const spec = obj(pod.spec, 'spec');
  const status = obj(pod.status, 'status');
  const labels = Object.entries(obj(md.labels, 'metadata.labels')).map(([k, val]): [string, string] => [k, str(val, `metadata.labels[${JSON.stringify(k)}]`)]);
  return {
    uid: str(md.uid, 'metadata.uid'),
    name: str(md.name, 'metadata.name'),
    namespace: str(md.namespace, 'metadata.namespace'),
    labels,
    ownerReferences: arr(md.ownerReferences, 'metadata.ownerReferences').map((r, i) => {
      const o = obj(r, `metadata.ownerReferences[${i}]`);
      return {
        kind: str(o.kind, `metadata.ownerReferences[${i}].kind`),
        name: str(o.name, `metadata.ownerReferences[${i}].name`),
        uid: str(o.uid, `metadata.ownerReferences[${i}].uid`),
      };
    }),
    serviceAccountName: str(spec.serviceAccountName, 'spec.serviceAccountName'),
    nodeName: str(spec.nodeName, 'spec.nodeName'),
    containerStatuses: statuses(status.containerStatuses, 'status.containerStatuses'),
    initContainerStatuses: statuses(status.initContainerStatuses, 'status.initContainerStatuses'),
  };
}

/**
 * The host part of a `<runtime>://<id>` container ID (what Go's url.Parse
 * calls Host); undefined when it is not in that form.
 */
export function containerIdOf(statusId: string): string | undefined {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(statusId);
  return m ? m[1] : undefined;
}

/**
 * The status of container `containerId` in the pod (regular containers,
 * then init containers; as SPIRE, ephemeral containers are not searched).
 */
export function lookUpContainer(containerId: string, pod: Pod): ContainerStatus | undefined {
  for (const list of [pod.containerStatuses, pod.initContainerStatuses]) {
    for (const s of list) {
      if (s.containerID === '') continue;
      if (containerIdOf(s.containerID) === containerId) return s;
    }
  }
  return undefined;
}

/** Image ID then image name of each status, without duplicates (both may match a registration). */
export function imageIdentifiers(statuses: readonly ContainerStatus[]): string[] {
  const out = new Set<string>();
  for (const s of statuses) {
    out.add(s.imageID);
    out.add(s.image);
  }
  return [...out];
}

/** SPIRE's pod selectors (values, without the `k8s:` type). */
export function podSelectors(pod: Pod): string[] {
  const values = [
    `sa:${pod.serviceAccountName}`,
    `ns:${pod.namespace}`,
    `node-name:${pod.nodeName}`,
    `pod-uid:${pod.uid}`,
    `pod-name:${pod.name}`,
    `pod-image-count:${pod.containerStatuses.length}`,
    `pod-init-image-count:${pod.initContainerStatuses.length}`,
  ];
  for (const image of imageIdentifiers(pod.containerStatuses)) values.push(`pod-image:${image}`);
  for (const image of imageIdentifiers(pod.initContainerStatuses)) values.push(`pod-init-image:${image}`);
  for (const [k, v] of pod.labels) values.push(`pod-label:${k}:${v}`);
  for (const o of pod.ownerReferences) {
    values.push(`pod-owner:${o.kind}:${o.name}`);
    values.push(`pod-owner-uid:${o.kind}:${o.uid}`);
  }
  return values;
}

/** SPIRE's selectors of the workload's own container. */
export function containerSelectors(status: ContainerStatus): string[] {
  return [`container-name:${status.name}`, ...imageIdentifiers([status]).map((i) => `container-image:${i}`)];
}
