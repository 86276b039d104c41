/** Turning diagnostics into text (file:line:col, source line, caret) or JSON, at the CLI edge. */
import type { Diagnostic, Span } from "../foundation/diagnostics.ts";

interface Position {
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units. */
  readonly column: number;
}

/**
 * The offsets where a text's lines start, computed once per file so that placing each diagnostic
 * costs a binary search, not a scan of the file. CR, LF and CRLF each end a line.
 */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly source: string) {
    for (let i = 0; i < source.length; i++) {
      const c = source.charCodeAt(i);
      if (c === 13 && source.charCodeAt(i + 1) === 10) i++;
      if (c === 10 || c === 13) this.starts.push(i + 1);
    }
  }

  /** The 1-based line and column of a source offset (clamped to the text). */
  position(offset: number): Position {
    const at = Math.max(0, Math.min(offset, this.source.length));
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= at) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, column: at - (this.starts[low] ?? 0) + 1 };
  }

  /** The text of a 1-based line, without its line end. */
  lineText(line: number): string {
    const start = this.starts[line - 1];
    if (start === undefined) return "";
    const next = this.starts[line] ?? this.source.length;
    return this.source.slice(start, next).replace(/\r?\n$|\r$/, "");
  }
}

/** The 1-based line and column of a source offset. */
export function positionOf(source: string, offset: number): Position {
  return new LineIndex(source).position(offset);
}

/** The line indexes of the files diagnostics refer to, each built on first use. */
export class SourceIndex {
  private readonly indexes = new Map<string, LineIndex>();
  constructor(private readonly sources: ReadonlyMap<string, string>) {}

  /** The index of `file`, undefined when its text is unknown. */
  of(file: string | undefined): LineIndex | undefined {
    if (file === undefined) return undefined;
    const known = this.indexes.get(file);
    if (known) return known;
    const source = this.sources.get(file);
    if (source === undefined) return undefined;
    const index = new LineIndex(source);
    this.indexes.set(file, index);
    return index;
  }
}

function location(file: string | undefined, index: LineIndex | undefined, span: Span | undefined): string {
  if (!file) return "nqm";
  if (!span || index === undefined) return file;
  const { line, column } = index.position(span.start);
  return `${file}:${line}:${column}`;
}

/** Source lines longer than this are shown as a window around the span, so output stays bounded. */
const MAX_EXCERPT_WIDTH = 160;

function excerpt(index: LineIndex, span: Span): string[] {
  const start = index.position(span.start);
  const line = index.lineText(start.line);
  const end = index.position(Math.max(span.start, span.end));
  let width =
    end.line === start.line ? Math.max(1, end.column - start.column) : Math.max(1, line.length - start.column + 1);
  let from = 0;
  let text = line;
  if (line.length > MAX_EXCERPT_WIDTH) {
    from = Math.max(0, start.column - 1 - MAX_EXCERPT_WIDTH / 4);
    const to = Math.min(line.length, from + MAX_EXCERPT_WIDTH);
    text = `${from > 0 ? "…" : ""}${line.slice(from, to)}${to < line.length ? "…" : ""}`;
    width = Math.max(1, Math.min(width, to - (start.column - 1)));
    if (from > 0) from -= 1; // the ellipsis takes the place of one character
  }
  const gutter = String(start.line).length;
  // Tabs stay tabs so that the caret lines up however wide the terminal draws them.
  const indent = text.slice(0, start.column - 1 - from).replace(/[^\t]/g, " ");
  return [
    `${" ".repeat(gutter)} |`,
    `${start.line} | ${text}`,
    `${" ".repeat(gutter)} | ${indent}${"^".repeat(width)}`,
  ];
}

/** At most this many diagnostics are shown per file; the rest are counted ("and K more"). */
export const MAX_DIAGNOSTICS_PER_FILE = 50;

/**
 * The diagnostics to show, at most MAX_DIAGNOSTICS_PER_FILE per file (diagnostics without a file
 * count as one group), and how many were left out, per file.
 */
export function limitPerFile(
  diagnostics: readonly Diagnostic[],
  limit = MAX_DIAGNOSTICS_PER_FILE,
): { shown: Diagnostic[]; omitted: Map<string | undefined, number> } {
  const counts = new Map<string | undefined, number>();
  const omitted = new Map<string | undefined, number>();
  const shown: Diagnostic[] = [];
  for (const d of diagnostics) {
    const count = counts.get(d.file) ?? 0;
    counts.set(d.file, count + 1);
    if (count < limit) shown.push(d);
    else omitted.set(d.file, (omitted.get(d.file) ?? 0) + 1);
  }
  return { shown, omitted };
}

/** Every diagnostic as text, at most MAX_DIAGNOSTICS_PER_FILE per file, then "and K more" for the rest. */
export function renderDiagnostics(diagnostics: readonly Diagnostic[], sources: ReadonlyMap<string, string>): string {
  const index = new SourceIndex(sources);
  const { shown, omitted } = limitPerFile(diagnostics);
  const blocks = shown.map((d) => renderWith(d, index));
  for (const [file, count] of omitted)
    blocks.push(`${file ?? "nqm"}: and ${count} more diagnostic${count === 1 ? "" : "s"} (not shown)`);
  return blocks.join("\n\n");
}

/** `file:line:col: error NQM1234: message`, then the source line and a caret under the span. */
export function renderDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, string>): string {
  return renderWith(d, new SourceIndex(sources));
}

function renderWith(d: Diagnostic, sources: SourceIndex): string {
  const index = sources.of(d.file);
  const lines = [`${location(d.file, index, d.span)}: ${d.severity} ${d.code}: ${d.message}`];
  if (index !== undefined && d.span) lines.push(...excerpt(index, d.span));
  if (d.related && index !== undefined)
    lines.push(`${location(d.file, index, d.related.span)}: note: ${d.related.message}`);
  return lines.join("\n");
}

/** The JSON form for editors: positions as offsets and as 1-based line/column. */
export function diagnosticToJson(
  d: Diagnostic,
  sources: ReadonlyMap<string, string> | SourceIndex,
): Record<string, unknown> {
  const index = (sources instanceof SourceIndex ? sources : new SourceIndex(sources)).of(d.file);
  const where = (span: Span) => {
    if (index === undefined) return { start: span.start, end: span.end };
    const start = index.position(span.start);
    const end = index.position(span.end);
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
