/** The `nqm` executable: runs the command line and sets the exit code. */
import { run } from "./main.ts";

process.exitCode = await run(process.argv.slice(2));
