/**
 * catalogs/aws-infra — region-specific AWS control-plane endpoints for a private agent host
 * (seed 003's `wg-aws-infra`: SSM, EC2, STS, CloudWatch Logs, ECR, S3), generated from
 * `${aws_region}`. A policy using it must define `aws_region` (e.g. `vars: {aws_region: eu-west-1}`).
 * Pure data.
 */
import type { Catalog } from "./types.ts";

const ENDPOINTS = "https://docs.aws.amazon.com/general/latest/gr/aws-service-information.html";
const SSM = "https://docs.aws.amazon.com/systems-manager/latest/userguide/setup-create-vpc.html";

export const awsInfra: Catalog = {
  name: "aws-infra",
  version: "2026-11-21",
  description: "AWS regional endpoints for SSM, EC2, STS, CloudWatch Logs, ECR and S3 (from ${aws_region})",
  entries: [
    { dest: "ssm.${aws_region}.amazonaws.com", source: SSM },
    { dest: "ssmmessages.${aws_region}.amazonaws.com", source: SSM, note: "Session Manager channel" },
    { dest: "ec2messages.${aws_region}.amazonaws.com", source: SSM },
    { dest: "ec2.${aws_region}.amazonaws.com", source: "https://docs.aws.amazon.com/general/latest/gr/ec2-service.html" },
    { dest: "sts.${aws_region}.amazonaws.com", source: "https://docs.aws.amazon.com/general/latest/gr/sts.html" },
    { dest: "logs.${aws_region}.amazonaws.com", source: "https://docs.aws.amazon.com/general/latest/gr/cwl_region.html" },
    { dest: "api.ecr.${aws_region}.amazonaws.com", source: "https://docs.aws.amazon.com/general/latest/gr/ecr.html" },
    {
      dest: "s3.${aws_region}.amazonaws.com",
      source: "https://docs.aws.amazon.com/general/latest/gr/s3.html",
      note: `reaches every bucket of the region (path-style requests); prefer a VPC gateway endpoint with a bucket policy (${ENDPOINTS})`,
    },
  ],
};
