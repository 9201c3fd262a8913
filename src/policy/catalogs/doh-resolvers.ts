/**
 * catalogs/doh-resolvers — well-known public DNS resolvers that speak DNS-over-HTTPS and
 * DNS-over-TLS, by name and by their documented anycast addresses. Presets deny this catalog
 * on every port ahead of any allow (seed 003's DNS-exfiltration rules): a resolver the agent
 * reaches directly bypasses the DNS guard. Pure data.
 */
import type { Catalog } from "./types.ts";

const GOOGLE = "https://developers.google.com/speed/public-dns/docs/using";
const GOOGLE_DOH = "https://developers.google.com/speed/public-dns/docs/doh";
const CF = "https://developers.cloudflare.com/1.1.1.1/ip-addresses/";
const CF_DOH = "https://developers.cloudflare.com/1.1.1.1/encryption/dns-over-https/";
const QUAD9 = "https://www.quad9.net/service/service-addresses-and-features";
const OPENDNS = "https://support.opendns.com/hc/en-us/articles/360038086532-Using-DNS-over-HTTPS-DoH-with-OpenDNS";
const ADGUARD = "https://adguard-dns.io/kb/general/dns-providers/";
const MULLVAD = "https://mullvad.net/en/help/dns-over-https-and-dns-over-tls";

export const dohResolvers: Catalog = {
  name: "doh-resolvers",
  version: "2026-11-21",
  description: "Public DoH/DoT resolvers (Google, Cloudflare, Quad9, OpenDNS, AdGuard, Mullvad, NextDNS, CleanBrowsing, Control D, AliDNS)",
  entries: [
    { dest: "dns.google", source: GOOGLE_DOH },
    { dest: "dns.google.com", source: GOOGLE_DOH },
    { dest: "8.8.8.8", source: GOOGLE },
    { dest: "8.8.4.4", source: GOOGLE },
    { dest: "2001:4860:4860::8888", source: GOOGLE },
    { dest: "2001:4860:4860::8844", source: GOOGLE },
    { dest: "cloudflare-dns.com", source: CF_DOH },
    { dest: "*.cloudflare-dns.com", source: CF_DOH, note: "security., family., mozilla. and other Cloudflare DoH names" },
    { dest: "one.one.one.one", source: CF },
    { dest: "1.1.1.1", source: CF },
    { dest: "1.0.0.1", source: CF },
    { dest: "1.1.1.2", source: CF, note: "malware blocking" },
    { dest: "1.0.0.2", source: CF, note: "malware blocking" },
    { dest: "1.1.1.3", source: CF, note: "malware and adult content blocking" },
    { dest: "1.0.0.3", source: CF, note: "malware and adult content blocking" },
    { dest: "2606:4700:4700::1111", source: CF },
    { dest: "2606:4700:4700::1001", source: CF },
    { dest: "2606:4700:4700::1112", source: CF },
    { dest: "2606:4700:4700::1002", source: CF },
    { dest: "2606:4700:4700::1113", source: CF },
    { dest: "2606:4700:4700::1003", source: CF },
    { dest: "dns.quad9.net", source: QUAD9 },
    { dest: "dns9.quad9.net", source: QUAD9 },
    { dest: "dns10.quad9.net", source: QUAD9 },
    { dest: "dns11.quad9.net", source: QUAD9 },
    { dest: "9.9.9.9", source: QUAD9 },
    { dest: "149.112.112.112", source: QUAD9 },
    { dest: "9.9.9.10", source: QUAD9, note: "unsecured" },
    { dest: "149.112.112.10", source: QUAD9, note: "unsecured" },
    { dest: "9.9.9.11", source: QUAD9, note: "ECS" },
    { dest: "149.112.112.11", source: QUAD9, note: "ECS" },
    { dest: "2620:fe::fe", source: QUAD9 },
    { dest: "2620:fe::9", source: QUAD9 },
    { dest: "2620:fe::10", source: QUAD9, note: "unsecured" },
    { dest: "2620:fe::fe:10", source: QUAD9, note: "unsecured" },
    { dest: "2620:fe::11", source: QUAD9, note: "ECS" },
    { dest: "2620:fe::fe:11", source: QUAD9, note: "ECS" },
    { dest: "doh.opendns.com", source: OPENDNS },
    { dest: "doh.familyshield.opendns.com", source: OPENDNS },
    { dest: "dns.opendns.com", source: OPENDNS },
    { dest: "208.67.222.222", source: OPENDNS },
    { dest: "208.67.220.220", source: OPENDNS },
    { dest: "2620:119:35::35", source: OPENDNS },
    { dest: "2620:119:53::53", source: OPENDNS },
    { dest: "dns.adguard-dns.com", source: ADGUARD },
    { dest: "unfiltered.adguard-dns.com", source: ADGUARD },
    { dest: "family.adguard-dns.com", source: ADGUARD },
    { dest: "94.140.14.14", source: ADGUARD },
    { dest: "94.140.15.15", source: ADGUARD },
    { dest: "2a10:50c0::ad1:ff", source: ADGUARD },
    { dest: "2a10:50c0::ad2:ff", source: ADGUARD },
    { dest: "dns.mullvad.net", source: MULLVAD },
    { dest: "*.dns.mullvad.net", source: MULLVAD, note: "adblock., base., extended., family., all." },
    { dest: "194.242.2.2", source: MULLVAD },
    { dest: "2a07:e340::2", source: MULLVAD },
    { dest: "dns.nextdns.io", source: "https://nextdns.io/", note: "per-profile DoH/DoT" },
    { dest: "*.dns.nextdns.io", source: "https://nextdns.io/", note: "per-profile DoT names" },
    { dest: "doh.cleanbrowsing.org", source: "https://cleanbrowsing.org/filters/" },
    { dest: "freedns.controld.com", source: "https://controld.com/free-dns" },
    { dest: "dns.controld.com", source: "https://docs.controld.com/docs/dns-over-https" },
    { dest: "dns.alidns.com", source: "https://www.alibabacloud.com/help/en/dns/public-dns-doh-json-api" },
    { dest: "223.5.5.5", source: "https://www.alibabacloud.com/help/en/dns/public-dns-doh-json-api" },
    { dest: "223.6.6.6", source: "https://www.alibabacloud.com/help/en/dns/public-dns-doh-json-api" },
  ],
};
