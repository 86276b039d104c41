/** Turning diagnostics into text (file:line:col, source line, caret) or JSON, at the CLI edge. */
import type { Diagnostic, Span } from "../foundation/diagnostics.ts";

export interface Position {
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units. */
  readonly column: number;
}

/** The 1-based line and column of a source offset. */
export function positionOf(source: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function lineText(source: string, line: number): string {
  return source.split(/\r?\n/)[line - 1] ?? "";
}

function location(file: string | undefined, source: string | undefined, span: Span | undefined): string {
  if (!file) return "nqm";
  if (!span || source === undefined) return file;
  const { line, column } = positionOf(source, span.start);
  return `${file}:${line}:${column}`;
}

function excerpt(source: string, span: Span): string[] {
  const start = positionOf(source, span.start);
  const text = lineText(source, start.line);
  const end = positionOf(source, Math.max(span.start, span.end));
  const width =
    end.line === start.line ? Math.max(1, end.column - start.column) : Math.max(1, text.length - start.column + 1);
  const gutter = String(start.line).length;
  // Tabs stay tabs so that the caret lines up however wide the terminal draws them.
  const indent = text.slice(0, start.column - 1).replace(/[^\t]/g, " ");
  return [
    `${" ".repeat(gutter)} |`,
    `${start.line} | ${text}`,
    `${" ".repeat(gutter)} | ${indent}${"^".repeat(width)}`,
  ];
}

/** `file:line:col: error NQM1234: message`, then the source line and a caret under the span. */
export function renderDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, string>): string {
  const source = d.file === undefined ? undefined : sources.get(d.file);
  const lines = [`${location(d.file, source, d.span)}: ${d.severity} ${d.code}: ${d.message}`];
  if (source !== undefined && d.span) lines.push(...excerpt(source, d.span));
  if (d.related && source !== undefined)
    lines.push(`${location(d.file, source, d.related.span)}: note: ${d.related.message}`);
  return lines.join("\n");
}

/** The JSON form for editors: positions as offsets and as 1-based line/column. */
export function diagnosticToJson(d: Diagnostic, sources: ReadonlyMap<string, string>): Record<string, unknown> {
  const source = d.file === undefined ? undefined : sources.get(d.file);
  const where = (span: Span) => {
    if (source === undefined) return { start: span.start, end: span.end };
    const start = positionOf(source, span.start);
    const end = positionOf(source, span.end);
    return {
      start: span.start,
      end: span.end,
      line: start.line,
      column: start.column,
      endLine: end.line,
      endColumn: end.column,
    };
  };
  return {
    code: d.code,
    severity: d.severity,
    message: d.message,
    ...(d.file !== undefined ? { file: d.file } : {}),
    ...(d.span ? where(d.span) : {}),
    ...(d.related ? { related: { message: d.related.message, ...where(d.related.span) } } : {}),
  };
}
