/**
 * Memory budgets: what a run may allocate, checked before the allocation (NQM3010 with the
 * estimate), so that no input makes the process grow until the machine or V8 gives up.
 */
import { totalmem } from "node:os";
import { formatBytes } from "../foundation/format.ts";
import { fail } from "../foundation/diagnostics.ts";

/** The default budget of one process: $NQM_MEMORY_LIMIT bytes, else half the machine's memory. */
export function defaultMemoryLimit(): number {
  const text = process.env.NQM_MEMORY_LIMIT;
  const bytes = text === undefined || text.trim() === "" ? Number.NaN : Number(text);
  if (text !== undefined && text.trim() !== "" && !(bytes > 0 && Number.isFinite(bytes)))
    fail("NQM3007", { option: "NQM_MEMORY_LIMIT", reason: `expected a positive number of bytes, got \`${text}\`` });
  return Number.isFinite(bytes) ? Math.floor(bytes) : Math.floor(totalmem() / 2);
}

/** Throws NQM3010: `what` would need `bytes`, over `limit`. */
export function refuseMemory(what: string, bytes: number, limit: number, advice = "lower the sizes"): never {
  fail("NQM3010", { what, estimate: formatBytes(bytes), limit: formatBytes(limit), advice });
}

/** Refuses (NQM3010) when `bytes` exceed `limit`. */
export function checkMemory(what: string, bytes: number, limit: number, advice?: string): void {
  if (!(bytes <= limit)) refuseMemory(what, bytes, limit, advice);
}
