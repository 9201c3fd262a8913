/**
 * catalogs/paste-sites — pastebins, file drops and request catchers: places where an agent can
 * leave data for anyone to fetch. `learn` flags flows to them instead of proposing an allow;
 * presets for data-handling classes deny them by name. Pure data.
 */
import type { Catalog } from "./types.ts";

export const pasteSites: Catalog = {
  name: "paste-sites",
  version: "2026-11-21",
  description: "Pastebins, anonymous file drops and HTTP request catchers",
  entries: [
    { dest: "pastebin.com", source: "https://pastebin.com/doc_api" },
    { dest: "paste.ee", source: "https://paste.ee/" },
    { dest: "hastebin.com", source: "https://www.toptal.com/developers/hastebin" },
    { dest: "dpaste.com", source: "https://dpaste.com/api/v2/" },
    { dest: "dpaste.org", source: "https://dpaste.org/" },
    { dest: "paste.rs", source: "https://paste.rs/web" },
    { dest: "termbin.com", source: "https://termbin.com/" },
    { dest: "sprunge.us", source: "http://sprunge.us/" },
    { dest: "ix.io", source: "http://ix.io/" },
    { dest: "0x0.st", source: "https://0x0.st/" },
    { dest: "transfer.sh", source: "https://transfer.sh/" },
    { dest: "file.io", source: "https://www.file.io/" },
    { dest: "catbox.moe", source: "https://catbox.moe/tools.php" },
    { dest: "files.catbox.moe", source: "https://catbox.moe/tools.php" },
    { dest: "litterbox.catbox.moe", source: "https://litterbox.catbox.moe/" },
    { dest: "tmpfiles.org", source: "https://tmpfiles.org/" },
    { dest: "gofile.io", source: "https://gofile.io/api" },
    { dest: "controlc.com", source: "https://controlc.com/" },
    { dest: "rentry.co", source: "https://rentry.co/" },
    { dest: "justpaste.it", source: "https://justpaste.it/" },
    { dest: "privatebin.net", source: "https://privatebin.net/" },
    { dest: "paste.mozilla.org", source: "https://paste.mozilla.org/" },
    { dest: "bpa.st", source: "https://bpa.st/" },
    { dest: "webhook.site", source: "https://docs.webhook.site/", note: "request catcher: anything sent is readable by its owner" },
    { dest: "*.webhook.site", source: "https://docs.webhook.site/", note: "request catcher" },
    { dest: "requestbin.net", source: "https://requestbin.net/" },
    { dest: "*.m.pipedream.net", source: "https://pipedream.com/docs/workflows/building-workflows/triggers/", note: "request catcher endpoints" },
    { dest: "*.oast.pro", source: "https://github.com/projectdiscovery/interactsh", note: "interactsh out-of-band callbacks" },
    { dest: "*.oast.live", source: "https://github.com/projectdiscovery/interactsh" },
    { dest: "*.oast.site", source: "https://github.com/projectdiscovery/interactsh" },
    { dest: "*.oast.online", source: "https://github.com/projectdiscovery/interactsh" },
    { dest: "*.oast.fun", source: "https://github.com/projectdiscovery/interactsh" },
    { dest: "*.oast.me", source: "https://github.com/projectdiscovery/interactsh" },
    { dest: "*.burpcollaborator.net", source: "https://portswigger.net/burp/documentation/collaborator", note: "out-of-band callbacks" },
    { dest: "*.oastify.com", source: "https://portswigger.net/burp/documentation/collaborator", note: "out-of-band callbacks" },
  ],
};
