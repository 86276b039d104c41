/** The compiler's version: part of every cache key and shown by `nqm --version`. */
export const COMPILER_VERSION = "0.1.0";
