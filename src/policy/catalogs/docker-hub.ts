/**
 * catalogs/docker-hub — pulling images from Docker Hub. Pure data.
 */
import type { Catalog } from "./types.ts";

const ALLOW = "https://docs.docker.com/desktop/setup/allow-list/";

export const dockerHub: Catalog = {
  name: "docker-hub",
  version: "2026-11-21",
  description: "Docker Hub registry, token service and layer CDNs",
  entries: [
    { dest: "registry-1.docker.io", source: ALLOW, note: "Docker pull/push" },
    { dest: "auth.docker.io", source: ALLOW, note: "registry tokens" },
    { dest: "production.cloudflare.docker.com", source: ALLOW, note: "layer CDN" },
    { dest: "production.cloudfront.docker.com", source: ALLOW, note: "layer CDN" },
    {
      dest: "docker-images-prod.6aa30f8b08e16409b46e0173d6de2f56.r2.cloudflarestorage.com",
      source: ALLOW,
      note: "layer storage (personal plan / anonymous pulls); one bucket, not the whole of R2",
    },
    { dest: "hub.docker.com", source: ALLOW, note: "Docker Hub web and API" },
  ],
};
