/** Builds the CLI and the sweep worker into `outdir`. */
export function buildCli(outdir: string): Promise<void>;
