/** The views `nqm derive --what` offers; a module of its own so the CLI can name them without loading the compiler. */
export const DERIVE_VIEWS = ["f", "grad", "jvp", "vjp", "hvp", "quad", "all"] as const;
export type DeriveView = (typeof DERIVE_VIEWS)[number];
