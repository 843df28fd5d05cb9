/**
 * The EC2 and IAM lookups of aws_iid, through the AWS SDK's real clients:
 * DescribeInstances (tags, security groups, instance profile, the root
 * device anti-tampering check) and GetInstanceProfile (IAM role selectors).
 * Endpoints are configurable (`ec2_endpoint`, `iam_endpoint`) so tests and
 * private endpoints can be used; credentials are the configured static keys
 * or the SDK's default chain.
 */
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand, IAMClient } from '@aws-sdk/client-iam';
import { PluginError } from '@spire-ts/plugin-sdk';

/** SPIRE's bound on each AWS call. */
export const AWS_TIMEOUT_MS = 20_000;

/** Most seconds allowed between the root volume's and the primary interface's attachment (SPIRE's). */
const MAX_SECONDS_BETWEEN_DEVICE_ATTACHMENTS = 60;

export interface AwsClientConfig {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly ec2Endpoint: string;
  readonly iamEndpoint: string;
}

function reason(err: unknown): string {
  if (err instanceof Error) return err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message;
  return String(err);
}

/** Per-region EC2 and IAM clients, created on first use. */
export class AwsClients {
  private readonly ec2 = new Map<string, EC2Client>();
  private readonly iam = new Map<string, IAMClient>();

  constructor(private readonly config: AwsClientConfig) {}

  private common(region: string) {
    const { accessKeyId, secretAccessKey } = this.config;
    return {
      region,
      maxAttempts: 2,
      ...(accessKeyId ? { credentials: { accessKeyId, secretAccessKey } } : {}),
    };
  }

  private ec2For(region: string): EC2Client {
    let c = this.ec2.get(region);
    if (!c) {
      c = new EC2Client({ ...this.common(region), ...(this.config.ec2Endpoint ? { endpoint: this.config.ec2Endpoint } : {}) });
      this.ec2.set(region, c);
    }
    return c;
  }

  private iamFor(region: string): IAMClient {
    let c = this.iam.get(region);
    if (!c) {
      c = new IAMClient({ ...this.common(region), ...(this.config.iamEndpoint ? { endpoint: this.config.iamEndpoint } : {}) });
      this.iam.set(region, c);
    }
    return c;
  }

  /** The pending or running instances with this ID (SPIRE's filter). */
  async describeInstance(region: string, instanceId: string): Promise<Instance[]> {
    let out;
    try {
      out = await this.ec2For(region).send(
        new DescribeInstancesCommand({
          InstanceIds: [instanceId],
          Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running'] }],
        }),
        { abortSignal: AbortSignal.timeout(AWS_TIMEOUT_MS) },
      );
    } catch (err) {
      throw PluginError.internal(`failed to describe instance ${instanceId} in ${region}: ${reason(err)}`, err);
    }
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  }

  /** ARNs of the roles of an instance profile. */
  async instanceProfileRoles(region: string, profileName: string): Promise<string[]> {
    let out;
    try {
      out = await this.iamFor(region).send(new GetInstanceProfileCommand({ InstanceProfileName: profileName }), {
        abortSignal: AbortSignal.timeout(AWS_TIMEOUT_MS),
      });
    } catch (err) {
      throw PluginError.internal(`failed to get instance profile ${JSON.stringify(profileName)}: ${reason(err)}`, err);
    }
    return (out.InstanceProfile?.Roles ?? []).flatMap((r) => (r.Arn ? [r.Arn] : []));
  }

  close(): void {
    for (const c of this.ec2.values()) c.destroy();
    for (const c of this.iam.values()) c.destroy();
    this.ec2.clear();
    this.iam.clear();
  }
}

/** The instance profile name of an instance profile ARN (`arn:aws:iam::123:instance-profile/path/name`). */
export function instanceProfileName(arn: string): string {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') throw PluginError.internal(`failed to parse instance profile ARN ${JSON.stringify(arn)}`);
  const resource = parts.slice(5).join(':');
  const m = /instance-profile[/:](.+)/.exec(resource);
  if (!m) throw PluginError.internal(`ARN ${JSON.stringify(arn)} is not for an instance profile`);
  const segs = m[1]!.split('/');
  return segs[segs.length - 1]!;
}

/**
 * SPIRE's anti-tampering check: unless the root device is instance store,
 * the root EBS volume must have been attached within a minute of the primary
 * network interface (a volume swapped in later could carry a stolen agent).
 * Returns the reason for refusal, or undefined.
 */
export function blockDeviceProblem(instance: Instance): string | undefined {
  const iface = (instance.NetworkInterfaces ?? []).find((n) => n.Attachment?.DeviceIndex === 0);
  const ifaceTime = iface?.Attachment?.AttachTime;
  if (!iface || !ifaceTime) return 'the EC2 instance network interface with device index 0 is inaccessible';
  if (instance.RootDeviceType === 'instance-store') return undefined;
  const root = (instance.BlockDeviceMappings ?? []).find((b) => b.DeviceName !== undefined && b.DeviceName === instance.RootDeviceName);
  const rootTime = root?.Ebs?.AttachTime;
  if (!root || !rootTime) return `failed to locate the root device block mapping with name ${JSON.stringify(instance.RootDeviceName ?? '')}`;
  const disparity = Math.abs(Math.trunc(ifaceTime.getTime() / 1000) - Math.trunc(rootTime.getTime() / 1000));
  if (disparity > MAX_SECONDS_BETWEEN_DEVICE_ATTACHMENTS) {
    return `failed checking the disparity device attach times, root BlockDeviceMapping and NetworkInterface[0] attach times differ by ${disparity} seconds`;
  }
  return undefined;
}
