/**
 * `clawfence run` as a process: exit status, signals, what is left after it exits, what a
 * `kill -9` leaves and `clawfence cleanup` removes, two sandboxes with different policies side
 * by side (one with an `any` rule: internal ranges), and reuse of an address after its TTL.
 *
 * One world (test/integration/world) whose resolver answers with TTL 1 (`--local-ttl=1`), a
 * state dir of its own. Leftovers are looked for where they would be: the state record,
 * `nft list tables` and the host-side veth in H, /etc/netns/<ns>, and the contained process.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ADDR, containedPid, createWorld, prerequisites, probeScript, py, type FarMark, type World } from "./world/world.ts";

const skip = prerequisites();
if (skip && process.env["CI"] === "true") throw new Error(`integration prerequisites missing: ${skip}`);
const opts = { skip };

let w: World;

before(async () => {
  if (skip) return;
  w = await createWorld({ dnsmasqExtra: ["--local-ttl=1"] });
});

after(async () => {
  await w?.close();
});

const TRIVIAL = `version: 1
name: trivial
dns: { upstreams: [198.51.100.2] }
rules: []
default: deny
`;

interface Rec {
  id: string;
  ns: string;
  hostIf: string;
  tables: string[];
}

/** Everything a sandbox leaves behind if it is not cleaned up; empty when it is gone. */
function leftovers(rec: Rec): string[] {
  const out: string[] = [];
  if (existsSync(join(w.stateDir, "sandboxes", `${rec.id}.json`))) out.push("state record");
  const tables = w.inH("nft", "list", "tables");
  for (const t of rec.tables) if (tables.includes(` ${t}`)) out.push(`table ${t}`);
  if (w.inH("ip", "-o", "link", "show").includes(`${rec.hostIf}@`)) out.push(`veth ${rec.hostIf}`);
  if (existsSync(`/etc/netns/${rec.ns}`)) out.push(`/etc/netns/${rec.ns}`);
  if (existsSync(`/run/netns/${rec.ns}`)) out.push(`/run/netns/${rec.ns}`);
  const slots = join(w.stateDir, "slots");
  if (existsSync(slots) && readdirSync(slots).length > 0) out.push(`slot files ${readdirSync(slots).join(",")}`);
  return out;
}

async function recordOf(): Promise<Rec> {
  for (let i = 0; i < 200; i++) {
    const r = w.records()[0];
    if (r) return r;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error("no state record appeared");
}

void test("the exit status is the command's: exit 7 gives 7", opts, async () => {
  const r = await w.run({ policy: TRIVIAL, cmd: ["sh", "-c", "exit 7"] }).done;
  assert.equal(r.status, 7, r.stderr);
});

void test("a command killed by SIGTERM gives 143", opts, async () => {
  const r = await w.run({ policy: TRIVIAL, cmd: ["sh", "-c", "kill -TERM $$"] }).done;
  assert.equal(r.status, 143, r.stderr);
});

void test("SIGTERM to clawfence is passed on to the command, and after exit nothing is left", opts, async () => {
  const h = w.run({ policy: TRIVIAL, cmd: ["sh", "-c", 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.1; done'] });
  await h.waitFor(/ready/);
  const rec = await recordOf();
  assert.deepEqual(
    leftovers(rec).filter((l) => l.startsWith("table") || l.startsWith("veth")),
    [`table ${rec.tables[0] ?? ""}`, `table ${rec.tables[1] ?? ""}`, `veth ${rec.hostIf}`],
    "while running, the tables and veth exist (the leftover check sees them)",
  );
  h.proc.kill("SIGTERM");
  const r = await h.done;
  assert.equal(r.status, 42, r.stderr);
  assert.match(r.stdout, /got-term/);
  assert.deepEqual(leftovers(rec), []);
  assert.deepEqual(w.records(), []);
});

let orphan: number | null = null;

/** true while the process exists and is not a zombie (a killed orphan stays a zombie until its
 * new parent reaps it, and PID 1 of this machine's container does not) */
function running(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

void test("kill -9 of clawfence leaves leftovers that `clawfence cleanup` removes", opts, async () => {
  const h = w.run({ policy: TRIVIAL, cmd: ["sh", "-c", "echo ready; exec sleep 120"] });
  await h.waitFor(/ready/);
  const rec = await recordOf();
  orphan = containedPid(h.proc.pid ?? 0);
  assert.ok(orphan !== null, "the contained command was found");
  h.proc.kill("SIGKILL");
  await h.done;
  const left = leftovers(rec);
  for (const l of ["state record", `table ${rec.tables[0] ?? ""}`, `table ${rec.tables[1] ?? ""}`, `veth ${rec.hostIf}`, `/etc/netns/${rec.ns}`]) assert.ok(left.includes(l), `expected leftover ${l}: ${left.join("; ")}`);
  const c = w.cli(["cleanup"]);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, new RegExp(`removed 1 leftover sandbox\\(es\\): ${rec.id}`));
  assert.deepEqual(leftovers(rec), []);
});

void test(
  "`clawfence cleanup` also ends the command a killed clawfence left running",
  { skip },
  () => {
    const pid = orphan;
    try {
      assert.ok(pid !== null);
      assert.equal(running(pid), false, `the contained process ${pid} survived the cleanup`);
    } finally {
      // never leave it behind, whatever clawfence did
      if (pid !== null && running(pid)) process.kill(pid, "SIGKILL");
    }
  },
);

void test("two sandboxes with different policies run side by side in H, each held to its own (and an any rule never reaches internal ranges)", opts, async () => {
  const A = `version: 1
name: side-a
internal: [198.51.100.0/24]
dns: { upstreams: [198.51.100.2] }
rules:
  - name: a-web
    allow: [allowed.test]
    ports: [80]
    protocol: tcp
default: deny
`;
  const B = `version: 1
name: side-b
internal: [198.51.100.0/24]
dns: { upstreams: [198.51.100.2] }
rules:
  - name: b-web
    allow: [blocked.test]
    ports: [80]
    protocol: tcp
  - name: b-any-8443
    allow: [any]
    ports: [8443]
    protocol: tcp
default: deny
`;
  const mark: FarMark = w.mark();
  let arrived = 0;
  let release: () => void = () => undefined;
  const both = new Promise<void>((r) => (release = r));
  const tablesSeen: string[] = [];
  const onWait = async (): Promise<void> => {
    if (++arrived === 2) {
      tablesSeen.push(w.inH("nft", "list", "tables"));
      release();
    }
    // the other side may never arrive (it failed to start): go on after 60 s, the asserts say why
    await Promise.race([both, new Promise((r) => setTimeout(r, 60_000).unref())]);
  };
  const script = (side: string, own: string, other: string, extra: ReadonlyArray<{ id: string; cmd: string }>): string =>
    w.writeScript(
      `side-${side}.sh`,
      probeScript(w, {
        serial: [
          { id: "ready", cmd: "true", waitAfter: "both" },
          { id: "own", cmd: `curl -sS -m 8 http://${own}/p-${side}-own` },
          { id: "other", cmd: `curl -sS -m 8 -o /dev/null -w '%{http_code}' http://${other}/p-${side}-other` },
          { id: "own-noproxy", cmd: `curl -sS -m 8 --noproxy '*' http://${own}/p-${side}-own-noproxy` },
          ...extra,
        ],
      }),
    );
  const bExtra = [
    { id: "any-internal-listed", cmd: py(w, "tcp", ADDR.blocked, "8443") },
    { id: "any-10", cmd: py(w, "tcp", ADDR.internal10, "8443") },
    { id: "any-metadata", cmd: py(w, "tcp", ADDR.metadata, "8443") },
  ];
  const ha = w.run({ policy: A, cmd: ["sh", script("a", "allowed.test", "blocked.test", [])], onWait });
  const hb = w.run({ policy: B, cmd: ["sh", script("b", "blocked.test", "allowed.test", bExtra)], onWait });
  const [ra, rb] = await Promise.all([ha.done, hb.done]);
  assert.equal(ra.status, 0, ra.stderr);
  assert.equal(rb.status, 0, rb.stderr);
  assert.equal((tablesSeen[0]?.match(/table inet cfp_/g) ?? []).length, 2, `both policy tables at once: ${tablesSeen[0] ?? ""}`);
  assert.equal(ra.probes.get("other")?.out, "403");
  assert.equal(rb.probes.get("other")?.out, "403");
  const paths = w.far(mark).flatMap((e) => (e.ev === "data" && e.first ? [e.first.split(" ")[1] ?? ""] : []));
  for (const p of ["/p-a-own", "/p-a-own-noproxy", "/p-b-own", "/p-b-own-noproxy"]) assert.ok(paths.includes(p), `${p} missing: ${paths.join(" ")}`);
  for (const p of ["/p-a-other", "/p-b-other"]) assert.ok(!paths.includes(p), `${p} reached its server`);
  assert.equal(rb.probes.get("any-internal-listed")?.out, "connected");
  assert.match(rb.probes.get("any-10")?.out ?? "", /^error/);
  assert.match(rb.probes.get("any-metadata")?.out ?? "", /^error/);
  const far = w.far(mark);
  assert.ok(far.some((e) => e.ev === "accept" && e.local === `${ADDR.blocked}:8443`));
  assert.deepEqual(
    far.filter((e) => e.local === `${ADDR.internal10}:8443` || e.local === `${ADDR.metadata}:8443`),
    [],
  );
  assert.deepEqual(w.records(), []);
});

void test("reuse of an address after its TTL: the kernel's element expires and a direct connection then fails", opts, async () => {
  const policy = `version: 1
name: ttl
internal: [198.51.100.0/24]
dns: { upstreams: [198.51.100.2], min_ttl: 1 }
rules:
  - name: ttl-svc
    allow: [ttl.test]
    ports: [8080]
    protocol: tcp
default: deny
`;
  const mark = w.mark();
  const sets: Record<string, string> = {};
  const script = w.writeScript(
    "ttl.sh",
    probeScript(w, {
      serial: [
        { id: "resolve", cmd: "dig +tries=1 +time=3 ttl.test | grep -E '^ttl\\.test\\.'" },
        { id: "fresh", cmd: py(w, "tcp", ADDR.ttl, "8080", "/p-ttl-fresh"), waitAfter: "fresh" },
        { id: "sleep", cmd: "sleep 3", waitAfter: "expired" },
        { id: "stale", cmd: py(w, "tcp", ADDR.ttl, "8080", "/p-ttl-stale") },
      ],
    }),
  );
  const r = await w.run({
    policy,
    flags: ["--no-transparent"],
    cmd: ["sh", script],
    onWait: async (name) => {
      const table = w.records()[0]?.tables[0] ?? "";
      sets[name] = w.inH("nft", "list", "set", "inet", table, "d0_4");
      await Promise.resolve();
    },
  }).done;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.probes.get("resolve")?.out ?? "", /^ttl\.test\.\s+1\s+IN\s+A\s+198\.51\.100\.20$/m, "the resolver answers with TTL 1");
  assert.match(r.probes.get("fresh")?.out ?? "", /^connected HTTP\/1\.1 200/, `${JSON.stringify([...r.probes.values()])}\n${r.stderr}\n${JSON.stringify(sets)}`);
  assert.match(sets["fresh"] ?? "", /198\.51\.100\.20 \. tcp \. 8080/);
  assert.doesNotMatch(sets["expired"] ?? "", /198\.51\.100\.20/, "the element outlived its TTL");
  assert.match(r.probes.get("stale")?.out ?? "", /^error/);
  const paths = w.far(mark).flatMap((e) => (e.ev === "data" && e.first ? [e.first] : []));
  assert.ok(paths.some((p) => p.includes("/p-ttl-fresh")));
  assert.ok(!paths.some((p) => p.includes("/p-ttl-stale")), "a connection after the TTL reached the server");
});
