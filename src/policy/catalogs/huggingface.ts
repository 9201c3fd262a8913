/**
 * catalogs/huggingface — the Hugging Face Hub (models, datasets) and its download CDNs. Pure data.
 * Inference endpoints of Hugging Face are in `shadow-model-providers`, not here.
 */
import type { Catalog } from "./types.ts";

const META = "https://huggingface.co/.well-known/meta.json";

export const huggingface: Catalog = {
  name: "huggingface",
  version: "2026-11-21",
  description: "Hugging Face Hub and its LFS/Xet download hosts",
  entries: [
    { dest: "huggingface.co", source: META, note: "hubDomains" },
    { dest: "hf.co", source: META, note: "hubDomains" },
    { dest: "cdn-lfs.hf.co", source: META, note: "lfsDomains" },
    { dest: "cdn-lfs-us-1.hf.co", source: META, note: "lfsDomains" },
    { dest: "cdn-lfs-eu-1.hf.co", source: META, note: "lfsDomains" },
    { dest: "cdn-lfs.huggingface.co", source: "https://huggingface.co/docs/hub/storage-backends", note: "LFS downloads, older name" },
    { dest: "transfer.xethub.hf.co", source: META, note: "lfsDomains (Xet storage)" },
    { dest: "transfer.xethub-eu.hf.co", source: META, note: "lfsDomains (Xet storage, EU)" },
    { dest: "cas-bridge.xethub.hf.co", source: "https://huggingface.co/docs/hub/storage-backends", note: "Xet download bridge (file redirects)" },
    { dest: "*.cdn.hf.co", source: META, note: "cdnDomains: aws.cdn.hf.co, us.gcp.cdn.hf.co and regional names" },
  ],
};
