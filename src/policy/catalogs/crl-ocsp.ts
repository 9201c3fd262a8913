/**
 * catalogs/crl-ocsp — certificate revocation (CRL distribution points, OCSP responders) and
 * issuer-certificate (AIA) hosts of widely used CAs, for runtimes that check revocation while
 * validating attestation evidence (seed 000). CRL and OCSP are plain HTTP by design (RFC 5280,
 * RFC 6960): rules using this catalog need port 80, say why in their description.
 * Wildcards are used only under domains that exist solely for a CA's PKI. Pure data.
 */
import type { Catalog } from "./types.ts";

const AZURE_CA = "https://learn.microsoft.com/azure/security/fundamentals/azure-ca-details";

export const crlOcsp: Catalog = {
  name: "crl-ocsp",
  version: "2026-11-21",
  description: "CRL and OCSP endpoints of Microsoft, DigiCert, Let's Encrypt, Google Trust Services, Amazon, Sectigo, GlobalSign, Entrust, Intel SGX",
  entries: [
    { dest: "crl.microsoft.com", source: AZURE_CA, note: "Microsoft root CA CRLs (seed 000)" },
    { dest: "mscrl.microsoft.com", source: AZURE_CA },
    { dest: "oneocsp.microsoft.com", source: AZURE_CA },
    { dest: "ocsp.msocsp.com", source: AZURE_CA },
    { dest: "ocsp.digicert.com", source: AZURE_CA, note: "DigiCert OCSP" },
    { dest: "crl3.digicert.com", source: AZURE_CA, note: "DigiCert CRL" },
    { dest: "crl4.digicert.com", source: AZURE_CA, note: "DigiCert CRL" },
    { dest: "cacerts.digicert.com", source: AZURE_CA, note: "DigiCert issuer certificates (AIA)" },
    { dest: "*.c.lencr.org", source: "https://letsencrypt.org/certificates/", note: "Let's Encrypt CRLs (x1.c.lencr.org, r12.c.lencr.org, ...)" },
    { dest: "*.i.lencr.org", source: "https://letsencrypt.org/certificates/", note: "Let's Encrypt issuer certificates (AIA)" },
    { dest: "*.pki.goog", source: "https://pki.goog/repository/", note: "Google Trust Services OCSP (o.pki.goog), CRL (c.pki.goog), AIA (i.pki.goog)" },
    { dest: "*.amazontrust.com", source: "https://www.amazontrust.com/repository/", note: "Amazon Trust Services OCSP/CRL (ocsp.rootca1.amazontrust.com, crl.r2m01.amazontrust.com, ...)" },
    { dest: "ocsp.sectigo.com", source: "https://www.sectigo.com/resource-library/sectigo-root-intermediate-certificate-files" },
    { dest: "crl.sectigo.com", source: "https://www.sectigo.com/resource-library/sectigo-root-intermediate-certificate-files" },
    { dest: "ocsp.usertrust.com", source: "https://www.sectigo.com/resource-library/sectigo-root-intermediate-certificate-files", note: "USERTrust roots (Sectigo)" },
    { dest: "crl.usertrust.com", source: "https://www.sectigo.com/resource-library/sectigo-root-intermediate-certificate-files", note: "USERTrust roots (Sectigo)" },
    { dest: "ocsp.globalsign.com", source: "https://support.globalsign.com/ca-certificates/root-certificates/globalsign-root-certificates" },
    { dest: "crl.globalsign.com", source: "https://support.globalsign.com/ca-certificates/root-certificates/globalsign-root-certificates" },
    { dest: "ocsp.entrust.net", source: "https://www.entrust.com/knowledgebase/ssl/entrust-root-and-intermediate-certificates" },
    { dest: "crl.entrust.net", source: "https://www.entrust.com/knowledgebase/ssl/entrust-root-and-intermediate-certificates" },
    {
      dest: "certificates.trustedservices.intel.com",
      source: "https://api.portal.trustedservices.intel.com/content/documentation.html",
      note: "Intel SGX root CA CRL",
    },
  ],
};
