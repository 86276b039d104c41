/** The compiler hash of the source tree at `root`, by compiler/version.ts's own function. */
export function compilerSourceHash(root: string): Promise<string>;
/** Builds the CLI and the sweep worker into `outdir`. */
export function buildCli(outdir: string): Promise<void>;
