/**
 * catalogs/intel-sgx-dcap — what an SGX/TDX DCAP attestation needs from outside: Intel's
 * Provisioning Certification Service (PCK certificates, TCB info, QE identity, CRLs), Intel's
 * root CA CRL, and Azure's PCS cache (seed 000). Pure data.
 */
import type { Catalog } from "./types.ts";

export const intelSgxDcap: Catalog = {
  name: "intel-sgx-dcap",
  version: "2026-11-21",
  description: "Intel SGX/TDX DCAP attestation collateral: Intel PCS, Intel root CA CRL, Azure PCS cache",
  entries: [
    {
      dest: "api.trustedservices.intel.com",
      source: "https://api.portal.trustedservices.intel.com/provisioning-certification",
      note: "Intel PCS v4: /sgx/certification/v4/, /tdx/certification/v4/ (HTTPS)",
    },
    {
      dest: "certificates.trustedservices.intel.com",
      source: "https://api.portal.trustedservices.intel.com/content/documentation.html",
      note: "Intel SGX root CA certificate and CRL (IntelSGXRootCA.der)",
    },
    {
      dest: "global.acccache.azure.com",
      source: "https://github.com/microsoft/Azure-DCAP-Client (and seed 000's allowlist)",
      note: "Azure PCS cache used by the Azure DCAP client on Azure confidential VMs",
    },
  ],
};
