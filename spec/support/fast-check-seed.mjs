/**
 * Loaded before every test file (scripts/test.mjs): fast-check draws from one fixed seed, so a
 * CI run is reproducible and a failure can be rerun as is. NQM_PROPERTY_SEED chooses another
 * seed (an integer), or `random` for a fresh one per file; with NQM_PROPERTY_RUNS (a factor on
 * each property's cases, spec/support/runs.ts) that is how the properties explore further.
 * Plain JavaScript: processes the tests start (sweep workers) inherit the flag without tsx.
 */
import fc from "fast-check";

const DEFAULT_SEED = 20261201;
const text = process.env.NQM_PROPERTY_SEED?.trim();
if (text !== "random") {
  const seed = text === undefined || text === "" ? DEFAULT_SEED : Number(text);
  if (!Number.isInteger(seed)) throw new Error(`NQM_PROPERTY_SEED must be an integer or \`random\`, not \`${text}\``);
  fc.configureGlobal({ seed });
}
