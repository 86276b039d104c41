/** The linear-algebra layer's own error: it knows nothing of diagnostics; its callers map it (to NQM4006). */

/** A non-finite number where the algorithm needs finite ones, with what and where. */
export class NonFiniteError extends Error {
  constructor(
    readonly what: string,
    readonly where: string,
  ) {
    super(`${what} is not a finite number at ${where}`);
    this.name = "NonFiniteError";
  }
}
