/**
 * policy/catalogs — the built-in catalogs, by name. (Being filled in: see catalogs helper.)
 */
import type { Catalog } from "./types.ts";

export const CATALOGS: Readonly<Record<string, Catalog>> = {
  "doh-resolvers": {
    name: "doh-resolvers",
    version: "2026-11-01",
    description: "Public DNS-over-HTTPS resolvers",
    entries: [{ dest: "dns.google", source: "https://developers.google.com/speed/public-dns/docs/doh" }],
  },
};
