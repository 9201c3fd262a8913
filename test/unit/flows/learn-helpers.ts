/**
 * Helpers for the learn and report tests: flow events with defaults, the real policy loader,
 * and a temporary flow store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFlowStore } from "../../../src/flows/store.ts";
import type { Policy } from "../../../src/policy/ir.ts";
import { loadPolicyText } from "../../../src/policy/load.ts";
import type { FlowEvent } from "../../../src/runtime/events.ts";

export const T0 = Date.parse("2026-03-01T10:00:00Z");

/** A would-deny proxy event to port 443 under a monitor-mode default, one minute after the last. */
export function makeEvents(): (o: Partial<FlowEvent>) => FlowEvent {
  let i = 0;
  return (o) => ({
    ts: new Date(T0 + i++ * 60_000).toISOString(),
    kind: "proxy",
    name: null,
    dst_ip: null,
    dst_port: 443,
    proto: "tcp",
    verdict: "deny",
    enforced: false,
    rule: "default",
    reason: "default-deny",
    sandbox: "sb1",
    ...o,
  });
}

export const VARS = { npm_registry: "npm.registry.test", debian_mirror: "deb.mirror.test", aws_region: "eu-west-1" };

export function load(text: string, file: string): Policy {
  return loadPolicyText(text, file, () => {
    throw new Error("these tests extend presets only");
  }, { vars: VARS });
}

/** A flow store in a new temporary directory holding `events`; `done()` removes it. */
export function tempStore(events: readonly FlowEvent[]): { path: string; dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "cf-learn-"));
  const path = join(dir, "flows.db");
  const store = openFlowStore(path, { queueCapacity: events.length + 10 });
  for (const e of events) store.emit(e);
  store.close();
  return { path, dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}
