/**
 * A model of many scalar params (issue 10: `derive` time grew faster than quadratically with
 * their number): s = Σᵢ pᵢ · tanh(pᵢ₊₁ · x), one `let` per term so that no expression nests deep.
 * Every derivative program is then a long sum of small products, the simplifier's worst case.
 */

/** The source of the model with `n` scalar params p0 … p(n−1) (n ≥ 1). */
export function manyScalarParams(n: number): string {
  const lines = ["model many_scalars {", "  input x: []"];
  for (let i = 0; i < n; i++) lines.push(`  param p${i}: []`);
  lines.push(`  let s0 = p0 * tanh(p${1 % n} * x)`);
  for (let i = 1; i < n; i++) lines.push(`  let s${i} = s${i - 1} + p${i} * tanh(p${(i + 1) % n} * x)`);
  lines.push(`  output s${n - 1}`, "}");
  return `${lines.join("\n")}\n`;
}
