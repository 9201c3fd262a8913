/**
 * Helpers for the flow store tests: an event factory and temporary store files.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlowEvent } from "../../../src/runtime/events.ts";

export const T0 = Date.parse("2025-01-31T12:00:00.000Z");

export function ev(i: number, o: Partial<FlowEvent> = {}): FlowEvent {
  return {
    ts: new Date(T0 + i * 1000).toISOString(),
    kind: "connect",
    name: `host${i}.example.com`,
    dst_ip: `203.0.113.${i % 250}`,
    dst_port: 443,
    proto: "tcp",
    verdict: "allow",
    enforced: true,
    rule: "web",
    reason: "rule-allow",
    sandbox: "sbx-1",
    policy_hash: "ab".repeat(32),
    ...o,
  };
}

export function tempDir(prefix = "cf-flows-"): { dir: string; file: (n: string) => string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, file: (n) => join(dir, n), done: () => rmSync(dir, { recursive: true, force: true }) };
}
