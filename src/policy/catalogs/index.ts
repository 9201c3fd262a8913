/**
 * policy/catalogs — the built-in catalogs, by name: versioned destination sets a policy uses
 * as `catalog:NAME`.
 *
 * Map: each catalog lives in its own file as plain data (policy/catalogs/types.ts); the loader
 * (policy/load.ts) expands `catalog:NAME` into the entries, substitutes `${vars}` in them, and
 * records the catalog name, version and each entry's source as the entry's origin. Lint reads
 * `shared-hosting`, `learn` reads `paste-sites`. Every entry says where it comes from; see
 * docs/catalogs.md for how to review and update them.
 *
 * Pure data, no I/O. Must not import the loader (the loader imports this).
 */
import type { Catalog } from "./types.ts";
import { awsInfra } from "./aws-infra.ts";
import { cloudMetadata } from "./cloud-metadata.ts";
import { crlOcsp } from "./crl-ocsp.ts";
import { dockerHub } from "./docker-hub.ts";
import { dohResolvers } from "./doh-resolvers.ts";
import { github } from "./github.ts";
import { huggingface } from "./huggingface.ts";
import { intelSgxDcap } from "./intel-sgx-dcap.ts";
import { nvidiaModelGateways } from "./nvidia-model-gateways.ts";
import { openclawCore } from "./openclaw-core.ts";
import { openclawSkills } from "./openclaw-skills.ts";
import { packageRegistries } from "./package-registries.ts";
import { pasteSites } from "./paste-sites.ts";
import { privateNetworks } from "./private-networks.ts";
import { shadowModelProviders } from "./shadow-model-providers.ts";
import { sharedHosting } from "./shared-hosting.ts";

export type { Catalog, CatalogEntry } from "./types.ts";

const ALL: readonly Catalog[] = [
  openclawCore,
  openclawSkills,
  nvidiaModelGateways,
  shadowModelProviders,
  packageRegistries,
  github,
  huggingface,
  dockerHub,
  awsInfra,
  intelSgxDcap,
  crlOcsp,
  dohResolvers,
  cloudMetadata,
  privateNetworks,
  sharedHosting,
  pasteSites,
];

export const CATALOGS: Readonly<Record<string, Catalog>> = Object.freeze(Object.fromEntries(ALL.map((c) => [c.name, c])));

/** The `${name}` variables a catalog's entries use (e.g. `aws_region` for aws-infra). */
export function catalogVars(catalog: Catalog): string[] {
  const names = new Set<string>();
  for (const e of catalog.entries) for (const m of e.dest.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) if (m[1] !== undefined) names.add(m[1]);
  return [...names].sort();
}
