/**
 * match/ip — address parsing and CIDR helpers for runtime code (resolver, proxy, verify).
 *
 * The implementation lives in policy/addr.ts (the normalizer needs it and policy/ may not
 * import match/); this module re-exports it so runtime code depends on match/ only.
 * Pure: no I/O.
 */
export {
  type IpAddr,
  type AddressCheck,
  parseIp,
  parseIpLoose,
  endsInNumber,
  formatIp,
  parseCidr,
  checkAddressEntry,
  ipInCidr,
  cidrContains,
  cidrRange,
  makeCidr,
  networkOf,
  unmapV4,
  familyBits,
} from "../policy/addr.ts";
