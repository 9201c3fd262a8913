/**
 * catalogs/cloud-metadata — instance metadata and credential endpoints of cloud platforms.
 * Presets deny them explicitly (not only by the special-range check) so an attempt is logged
 * under a named rule, and a broad `internal:` range can never reopen them. Pure data.
 */
import type { Catalog } from "./types.ts";

const AWS_IMDS = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html";

export const cloudMetadata: Catalog = {
  name: "cloud-metadata",
  version: "2026-11-21",
  description: "Cloud instance metadata and credential endpoints (AWS, Azure, Google Cloud, Alibaba, Tencent, OCI, ECS/EKS)",
  entries: [
    { dest: "169.254.169.254/32", source: AWS_IMDS, note: "IMDS of AWS, Azure, Google Cloud, OCI, DigitalOcean and others" },
    { dest: "fd00:ec2::254/128", source: AWS_IMDS, note: "AWS IMDS over IPv6 (Nitro)" },
    { dest: "169.254.170.2/32", source: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html", note: "ECS task credentials endpoint" },
    { dest: "169.254.170.23/32", source: "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html", note: "EKS Pod Identity agent" },
    { dest: "fd00:ec2::23/128", source: "https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html", note: "EKS Pod Identity agent, IPv6" },
    { dest: "metadata.google.internal", source: "https://cloud.google.com/compute/docs/metadata/querying-metadata" },
    { dest: "168.63.129.16/32", source: "https://learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16", note: "Azure WireServer (goal state, extensions)" },
    { dest: "100.100.100.200/32", source: "https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata", note: "Alibaba Cloud ECS metadata" },
    { dest: "metadata.tencentyun.com", source: "https://www.tencentcloud.com/document/product/213/4934", note: "Tencent Cloud CVM metadata" },
    { dest: "169.254.0.23/32", source: "https://www.tencentcloud.com/document/product/213/4934", note: "Tencent Cloud CVM metadata" },
  ],
};
