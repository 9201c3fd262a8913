/**
 * catalogs/github — GitHub for source control and releases. Pure data.
 *
 * Exact names only. `*.githubusercontent.com` is deliberately absent: it covers
 * raw.githubusercontent.com and gist.githubusercontent.com, where anyone can publish content
 * (see catalog `shared-hosting`); add those names yourself if an agent really needs them.
 */
import type { Catalog } from "./types.ts";

const RUNNERS = "https://docs.github.com/en/actions/concepts/runners/communicating-with-self-hosted-runners";

export const github: Catalog = {
  name: "github",
  version: "2026-11-21",
  description: "GitHub: web, git over HTTPS/SSH, API, archives, release assets, container registry",
  entries: [
    { dest: "github.com", source: RUNNERS, note: "web and git (HTTPS 443, SSH 22)" },
    { dest: "api.github.com", source: RUNNERS },
    { dest: "codeload.github.com", source: RUNNERS, note: "archive downloads" },
    { dest: "objects.githubusercontent.com", source: RUNNERS, note: "release assets and LFS objects" },
    { dest: "release-assets.githubusercontent.com", source: RUNNERS, note: "release assets" },
    { dest: "ghcr.io", source: "https://docs.github.com/en/packages/working-with-a-github-packages-registry/working-with-the-container-registry" },
    { dest: "pkg-containers.githubusercontent.com", source: RUNNERS, note: "container registry blobs" },
    { dest: "ssh.github.com", source: "https://docs.github.com/en/authentication/troubleshooting-ssh/using-ssh-over-the-https-port", note: "git over SSH on port 443" },
  ],
};
