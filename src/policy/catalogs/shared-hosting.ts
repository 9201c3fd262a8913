/**
 * catalogs/shared-hosting — shared hosting, tunnelling and cloud-storage domains where anyone
 * can publish content (or receive uploads) under the provider's name. Allowing a wildcard over
 * one of them allows every other tenant too: an exfiltration drop or a payload host. The
 * guardrails lint uses this catalog to refuse such wildcards; `learn` uses it to flag flows.
 *
 * A reference catalog (`usage: "reference"`): `*.x` here means "x and every name below it",
 * and many x are on the private section of the Public Suffix List, where the policy language
 * already refuses `*.x` in any rule (names.ts, CF3010). So it cannot be used in rules; it lists
 * them anyway so lint and learn have one place to look. No variables, so lint can read it
 * without a policy. Pure data.
 */
import type { Catalog } from "./types.ts";

export const sharedHosting: Catalog = {
  name: "shared-hosting",
  version: "2026-11-21",
  usage: "reference",
  description: "Shared hosting, tunnels and cloud storage where any tenant can publish content",
  entries: [
    { dest: "*.s3.amazonaws.com", source: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html", note: "any S3 bucket (virtual-hosted style)" },
    { dest: "s3.amazonaws.com", source: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html", note: "any S3 bucket (path style)" },
    { dest: "*.cloudfront.net", source: "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/distribution-web-values-returned.html", note: "any CloudFront distribution" },
    { dest: "*.blob.core.windows.net", source: "https://learn.microsoft.com/azure/storage/common/storage-account-overview#standard-endpoints", note: "any Azure storage account" },
    { dest: "*.web.core.windows.net", source: "https://learn.microsoft.com/azure/storage/blobs/storage-blob-static-website", note: "Azure static websites" },
    { dest: "*.azurewebsites.net", source: "https://learn.microsoft.com/azure/app-service/overview", note: "any Azure App Service app" },
    { dest: "*.azureedge.net", source: "https://learn.microsoft.com/azure/cdn/cdn-create-endpoint-how-to", note: "any Azure CDN endpoint" },
    { dest: "*.azurestaticapps.net", source: "https://learn.microsoft.com/azure/static-web-apps/overview" },
    { dest: "storage.googleapis.com", source: "https://cloud.google.com/storage/docs/request-endpoints", note: "any GCS bucket (path style)" },
    { dest: "*.storage.googleapis.com", source: "https://cloud.google.com/storage/docs/request-endpoints", note: "any GCS bucket (virtual-hosted style)" },
    { dest: "*.appspot.com", source: "https://cloud.google.com/appengine/docs/standard/how-requests-are-routed" },
    { dest: "*.firebaseapp.com", source: "https://firebase.google.com/docs/hosting" },
    { dest: "*.web.app", source: "https://firebase.google.com/docs/hosting" },
    { dest: "*.github.io", source: "https://docs.github.com/en/pages/getting-started-with-github-pages/about-github-pages" },
    { dest: "raw.githubusercontent.com", source: "https://docs.github.com/en/repositories/working-with-files/using-files/viewing-and-understanding-files", note: "raw files of any public repository" },
    { dest: "gist.githubusercontent.com", source: "https://docs.github.com/en/get-started/writing-on-github/editing-and-sharing-content-with-gists/creating-gists", note: "raw content of any gist" },
    { dest: "*.gitlab.io", source: "https://docs.gitlab.com/user/project/pages/" },
    { dest: "*.pages.dev", source: "https://developers.cloudflare.com/pages/" },
    { dest: "*.workers.dev", source: "https://developers.cloudflare.com/workers/configuration/routing/workers-dev/" },
    { dest: "*.r2.dev", source: "https://developers.cloudflare.com/r2/buckets/public-buckets/", note: "any public R2 bucket" },
    { dest: "*.trycloudflare.com", source: "https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/do-more-with-tunnels/trycloudflare/", note: "anonymous tunnels" },
    { dest: "*.netlify.app", source: "https://docs.netlify.com/" },
    { dest: "*.vercel.app", source: "https://vercel.com/docs/deployments/generated-urls" },
    { dest: "*.herokuapp.com", source: "https://devcenter.heroku.com/articles/custom-domains" },
    { dest: "*.onrender.com", source: "https://render.com/docs/web-services" },
    { dest: "*.fly.dev", source: "https://fly.io/docs/networking/services/" },
    { dest: "*.glitch.me", source: "https://glitch.com/" },
    { dest: "*.surge.sh", source: "https://surge.sh/help/" },
    { dest: "*.ngrok.io", source: "https://ngrok.com/docs/network-edge/domains-and-tcp-addresses/", note: "tunnels to anyone's machine" },
    { dest: "*.ngrok-free.app", source: "https://ngrok.com/docs/network-edge/domains-and-tcp-addresses/", note: "tunnels to anyone's machine" },
    { dest: "*.ngrok.app", source: "https://ngrok.com/docs/network-edge/domains-and-tcp-addresses/", note: "tunnels to anyone's machine" },
    { dest: "*.loca.lt", source: "https://github.com/localtunnel/localtunnel", note: "localtunnel" },
    { dest: "*.digitaloceanspaces.com", source: "https://docs.digitalocean.com/products/spaces/", note: "any DigitalOcean Spaces bucket" },
    { dest: "*.supabase.co", source: "https://supabase.com/docs/guides/storage" },
  ],
};
