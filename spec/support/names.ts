/** Models whose tensors have names that are special in JavaScript (shared by spec/codegen and spec/cli). */

/** Every param named after a property of Object.prototype or a JavaScript keyword. */
export const PARAMS_MODEL = `# params with names that are special in JavaScript
model constructor {
  dim length = 3
  const half = 0.5
  input hasOwnProperty: [length]
  param class: [length, length] ~ normal(0, 1)
  param constructor: [length] ~ normal(0, 1)
  param __proto__: [] ~ normal(0, 1)
  param toString: [length] ~ normal(0, 1)
  param prototype: [2, length] ~ normal(0, 1)
  let valueOf = tanh(class @ hasOwnProperty) * constructor
  output prototype @ valueOf + half * __proto__ * sum(toString * hasOwnProperty)
}
`;

/** Inputs and fixed tensors with such names, and params named like generated identifiers. */
export const DATA_MODEL = `model __proto__ {
  dim size = 2
  input class: [size]
  input __proto__: [size, size]
  input constructor: []
  param w: [size] ~ normal(0, 1)
  param n: [size] ~ normal(0, 1)
  fixed prototype: [size] ~ uniform(-1, 1)
  fixed toString: [size, size] ~ uniform(-1, 1)
  output dot(w, __proto__ @ class) * constructor + dot(n, toString @ prototype) + sum(sigmoid(n * class))
}
`;
