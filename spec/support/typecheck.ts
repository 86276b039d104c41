/** Type-checking in-memory TypeScript the way generated modules are checked: strict, ES2022, no DOM or Node types. */
import { join } from "node:path";
import ts from "typescript";
import { present } from "./entries.ts";

const STRICT: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  noImplicitReturns: true,
  noFallthroughCasesInSwitch: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  allowImportingTsExtensions: true,
  verbatimModuleSyntax: true,
  lib: ["lib.es2022.d.ts"],
  types: [],
};

/**
 * Type-checks in-memory `files`, named relative to `dir` (an absolute folder that need not exist,
 * from which they can import real files by relative paths); returns `line:column TScode message`
 * per file, with diagnostics of other files under "(other)".
 */
export function typeCheck(dir: string, files: Readonly<Record<string, string>>): Map<string, string[]> {
  const virtual = new Map(Object.entries(files).map(([name, text]) => [join(dir, name), text]));
  const host = ts.createCompilerHost(STRICT);
  const { getSourceFile, fileExists, readFile } = host;
  const { directoryExists } = host;
  host.fileExists = (path) => virtual.has(path) || fileExists.call(host, path);
  host.directoryExists = (path) => path === dir || (directoryExists?.call(host, path) ?? true);
  host.readFile = (path) => virtual.get(path) ?? readFile.call(host, path);
  host.getSourceFile = (path, language, onError, create) => {
    const text = virtual.get(path);
    return text === undefined
      ? getSourceFile.call(host, path, language, onError, create)
      : ts.createSourceFile(path, text, language, true);
  };
  const program = ts.createProgram([...virtual.keys()], STRICT, host);
  const result = new Map<string, string[]>([...Object.keys(files)].map((name) => [name, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const name = d.file ? [...Object.keys(files)].find((n) => join(dir, n) === present(d.file).fileName) : undefined;
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    const text = `${where ? `${where.line + 1}:${where.character + 1} ` : ""}TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    result.get(name ?? "(other)")?.push(text) ?? result.set(name ?? "(other)", [text]);
  }
  return result;
}
