/** The tokens of the model language. Newlines are not significant; `#` starts a comment. */
import { createToken, Lexer, type TokenType } from "chevrotain";

const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
// Comments go to their own group: the parser never sees them, the printer puts them back.
const Comment = createToken({ name: "Comment", pattern: /#[^\n\r]*/, group: "comments" });

export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: "a name" });

/** The category of every keyword: lets the parser take a misplaced keyword as a name, to say so plainly. */
export const Keyword = createToken({ name: "Keyword", pattern: Lexer.NA, label: "a keyword" });

function keyword(word: string): TokenType {
  return createToken({
    name: `Kw_${word}`,
    pattern: new RegExp(word),
    longer_alt: Identifier,
    categories: [Keyword],
    label: `\`${word}\``,
  });
}
export const Model = keyword("model");
export const Dim = keyword("dim");
export const Const = keyword("const");
export const Input = keyword("input");
export const Param = keyword("param");
export const Fixed = keyword("fixed");
export const Let = keyword("let");
export const Output = keyword("output");

/** Unsigned decimal literal: 12, 0.5, .5, 1e-3, 2.5E+4. A sign is a separate `-` token. */
export const NumberLiteral = createToken({
  name: "NumberLiteral",
  pattern: /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/,
  label: "a number",
});

/** A double-quoted string without escapes or line breaks: `"same"`. */
export const StringLiteral = createToken({ name: "StringLiteral", pattern: /"[^"\n\r]*"/, label: "a string" });

function punct(name: string, text: string): TokenType {
  return createToken({ name, pattern: text, label: `\`${text}\`` });
}
export const LCurly = punct("LCurly", "{");
export const RCurly = punct("RCurly", "}");
export const LParen = punct("LParen", "(");
export const RParen = punct("RParen", ")");
export const LBracket = punct("LBracket", "[");
export const RBracket = punct("RBracket", "]");
export const Comma = punct("Comma", ",");
export const Colon = punct("Colon", ":");
export const Tilde = punct("Tilde", "~");
export const Equals = punct("Equals", "=");
export const Plus = punct("Plus", "+");
export const Minus = punct("Minus", "-");
export const Star = punct("Star", "*");
export const Slash = punct("Slash", "/");
export const At = punct("At", "@");
export const Caret = punct("Caret", "^");

/** Keywords must precede Identifier so that they win ties; longer_alt keeps `models` a name. */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  Keyword,
  Model,
  Dim,
  Const,
  Input,
  Param,
  Fixed,
  Let,
  Output,
  Identifier,
  NumberLiteral,
  StringLiteral,
  LCurly,
  RCurly,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Tilde,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
  At,
  Caret,
];

export const lexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false });
