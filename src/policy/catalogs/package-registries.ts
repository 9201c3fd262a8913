/**
 * catalogs/package-registries — public package registries for coding-class agents (seed 003's
 * `wg-package-registries`). Pure data.
 *
 * The npm registry and the Debian archive are never named here: they come from the variables
 * `${npm_registry}` and `${debian_mirror}`, which the CLI fills from the machine's own npm and
 * apt configuration (so a site that uses a mirror gets its mirror, not the public host). A policy
 * can set them under `vars:` too; a policy that uses this catalog without them is an error
 * (undefined variable), never a silent gap.
 */
import type { Catalog } from "./types.ts";

export const packageRegistries: Catalog = {
  name: "package-registries",
  version: "2026-11-21",
  description: "Package registries: npm and Debian (from ${npm_registry} and ${debian_mirror}), PyPI, crates.io, Go, RubyGems, Maven Central, NuGet",
  entries: [
    { dest: "${npm_registry}", source: "the machine's npm configuration (`npm config get registry`)", note: "npm registry host, supplied by the CLI" },
    { dest: "${debian_mirror}", source: "the machine's apt sources (/etc/apt/sources.list, sources.list.d)", note: "Debian archive mirror host, supplied by the CLI" },
    { dest: "pypi.org", source: "https://docs.pypi.org/api/", note: "index and JSON API" },
    { dest: "files.pythonhosted.org", source: "https://docs.pypi.org/api/", note: "distribution files" },
    { dest: "crates.io", source: "https://doc.rust-lang.org/cargo/reference/registry-index.html" },
    { dest: "index.crates.io", source: "https://doc.rust-lang.org/cargo/reference/registry-index.html", note: "sparse index" },
    { dest: "static.crates.io", source: "https://doc.rust-lang.org/cargo/reference/registry-index.html", note: "crate downloads (the index's `dl`)" },
    { dest: "proxy.golang.org", source: "https://go.dev/ref/mod#module-proxy" },
    { dest: "sum.golang.org", source: "https://go.dev/ref/mod#checksum-database" },
    { dest: "rubygems.org", source: "https://guides.rubygems.org/rubygems-org-api/" },
    { dest: "index.rubygems.org", source: "https://guides.rubygems.org/rubygems-org-compact-index-api/" },
    { dest: "repo.maven.apache.org", source: "https://maven.apache.org/guides/introduction/introduction-to-repositories.html", note: "Maven Central" },
    { dest: "repo1.maven.org", source: "https://maven.apache.org/guides/introduction/introduction-to-repositories.html", note: "Maven Central" },
    { dest: "api.nuget.org", source: "https://learn.microsoft.com/nuget/api/overview" },
  ],
};
