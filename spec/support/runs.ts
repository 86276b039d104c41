/**
 * How many fast-check runs a property gets: its default, scaled by the environment variable
 * NQM_PROPERTY_RUNS (a factor: `0.1` for a quick pass, `10` for a thorough one). At least 1.
 */
export function propertyRuns(defaultRuns: number): number {
  const text = process.env.NQM_PROPERTY_RUNS;
  if (text === undefined || text.trim() === "") return defaultRuns;
  const factor = Number(text);
  if (!Number.isFinite(factor) || factor < 0) {
    throw new Error(
      `NQM_PROPERTY_RUNS must be a non-negative number (a factor on each property's default runs), not \`${text}\``,
    );
  }
  return Math.max(1, Math.round(defaultRuns * factor));
}
