/** The compiler hash of the source tree at `root`, by compiler/version.ts's own function. */
export function compilerSourceHash(root: string): Promise<string>;
/** Builds the CLI, the library's entry and the sweep worker into `outdir`. */
export function buildCli(outdir: string): Promise<void>;
/** Writes the library's type declarations (api/index.ts and what it names) into `outdir`. */
export function buildTypes(outdir: string): Promise<void>;
