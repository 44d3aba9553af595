/** The EC2 part of the AWS interface: the region's Availability Zones and an adopted VPC's subnets (preflight). */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface ZoneInfo {
  name: string;
  /** `available`, `information`, `impaired`, `unavailable`, `constrained`. */
  state: string;
}

export interface SubnetInfo {
  id: string;
  vpcId: string;
  availabilityZone: string;
}

export interface Ec2Api {
  /** The Availability Zones enabled for the account in the region (not Local or Wavelength Zones). */
  availabilityZones(): Promise<ZoneInfo[]>;
  /** The subnets with these ids that exist; a missing id is simply absent from the answer. */
  subnets(ids: string[]): Promise<SubnetInfo[]>;
}

export async function createEc2Api(target: AwsTarget): Promise<Ec2Api> {
  const ec2 = await import('@aws-sdk/client-ec2');
  const client = new ec2.EC2Client((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof ec2.EC2Client>[0]>);
  return {
    async availabilityZones() {
      const out = await client.send(new ec2.DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'zone-type', Values: ['availability-zone'] }] }));
      return (out.AvailabilityZones ?? []).filter((z) => z.ZoneName).map((z) => ({ name: z.ZoneName!, state: z.State ?? 'unknown' }));
    },
    async subnets(ids) {
      // Filtering by subnet-id answers the ones that exist; SubnetIds would fail the whole call on one unknown id.
      const found: SubnetInfo[] = [];
      let token: string | undefined;
      do {
        const out = await client.send(new ec2.DescribeSubnetsCommand({ Filters: [{ Name: 'subnet-id', Values: ids }], NextToken: token }));
        for (const s of out.Subnets ?? []) if (s.SubnetId) found.push({ id: s.SubnetId, vpcId: s.VpcId ?? '', availabilityZone: s.AvailabilityZone ?? '' });
        token = out.NextToken;
      } while (token);
      return found;
    },
  };
}
