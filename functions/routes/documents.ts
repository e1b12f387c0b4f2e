import { CST, Lexer, parseAllDocuments } from "yaml";
import { invalid, type CodeWithStatus, type Issue } from "../../core/index.js";

/**
 * Reading config documents from a request body — YAML (documents separated by `---`) or JSON (one
 * document, or an array of them) — within limits checked before anything expensive runs. The YAML
 * parser recurses per level of nesting and expands aliases, so a 10 KB body of `[[[[…` or of
 * `- - - …` can exhaust the stack (and leave V8 unable to compile the next regular expression)
 * and an alias bomb can exhaust memory. A cheap scan — the YAML lexer, which does not recurse, or
 * a character scan of JSON — measures depth and size first; only then are the documents built.
 */

export const DOCUMENT_LIMITS = {
  /** Levels of nesting: Kubernetes manifests need about 15. */
  depth: 64,
  /** Values (scalars, collections, aliases) in one request. */
  nodes: 200_000,
  /** Aliases in one request; each is expanded when the documents are built. */
  aliases: 100,
  documents: 1000,
} as const;

type Position = { line: number; col: number };

function tooMuch(code: CodeWithStatus<400>, message: string, at?: Position): never {
  throw invalid(code, message, [{ path: "", message: at ? `line ${at.line}, column ${at.col}: ${message}` : message }]);
}

/** Line and column (1-based) of an offset, counted once at the end, only when there is something to report. */
function positionOf(text: string, offset: number): Position {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

/** Checks a JSON text's depth and size without parsing it. */
export function checkJsonStructure(text: string): void {
  let depth = 0;
  let nodes = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // a backslash escapes the next character
      else if (ch === 0x22) inString = false;
      continue;
    }
    if (ch === 0x22) {
      inString = true;
      nodes++;
    } else if (ch === 0x5b || ch === 0x7b) {
      nodes++;
      if (++depth > DOCUMENT_LIMITS.depth)
        tooMuch("config.too_deep", `the body nests deeper than ${DOCUMENT_LIMITS.depth} levels`, positionOf(text, i));
    } else if (ch === 0x5d || ch === 0x7d) depth = Math.max(0, depth - 1);
    else if (ch === 0x2c) nodes++;
    if (nodes > DOCUMENT_LIMITS.nodes)
      tooMuch("config.too_complex", `the body holds more than ${DOCUMENT_LIMITS.nodes} values`, positionOf(text, i));
  }
}

/**
 * Checks a YAML text's depth, size and aliases from its tokens. Depth is over-counted rather than
 * under-counted: a line's indentation levels, plus the indicators (`- `, `? `, `: `) on it, plus
 * the open flow collections (`[`, `{`) — quoted and block scalars are single tokens, so what they
 * hold does not count.
 */
export function checkYamlStructure(text: string): void {
  let offset = 0;
  let flow = 0;
  let onLine = 0;
  let lineStart = true;
  const indents: number[] = [];
  let nodes = 0;
  let aliases = 0;
  let documents = 0;
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    const at = offset;
    offset += token.length;
    switch (type) {
      case "newline":
        lineStart = true;
        onLine = 0;
        continue;
      case "space":
        if (lineStart && flow === 0) {
          // Indentation: levels deeper than this line's end here.
          while (indents.length && indents[indents.length - 1]! >= token.length) indents.pop();
          indents.push(token.length);
        }
        continue;
      case "doc-start":
        indents.length = 0;
        if (++documents > DOCUMENT_LIMITS.documents)
          tooMuch(
            "config.too_complex",
            `the body holds more than ${DOCUMENT_LIMITS.documents} documents`,
            positionOf(text, at),
          );
        break;
      case "flow-seq-start":
      case "flow-map-start":
        flow++;
        nodes++;
        break;
      case "flow-seq-end":
      case "flow-map-end":
        flow = Math.max(0, flow - 1);
        break;
      case "seq-item-ind":
      case "explicit-key-ind":
      case "map-value-ind":
        onLine++;
        nodes++;
        break;
      case "alias":
        nodes++;
        if (++aliases > DOCUMENT_LIMITS.aliases)
          tooMuch(
            "config.too_many_aliases",
            `the body uses more than ${DOCUMENT_LIMITS.aliases} aliases`,
            positionOf(text, at),
          );
        break;
      case "scalar":
      case "single-quoted-scalar":
      case "double-quoted-scalar":
      case "block-scalar-header":
        nodes++;
        break;
      default:
        break;
    }
    if (lineStart && type !== "comment") {
      // A line that starts at column 0 closes every indented level.
      if (at === 0 || text.charCodeAt(at - 1) === 0x0a) {
        if (flow === 0) indents.length = 0;
      }
      lineStart = false;
    }
    if (indents.length + onLine + flow > DOCUMENT_LIMITS.depth)
      tooMuch("config.too_deep", `the body nests deeper than ${DOCUMENT_LIMITS.depth} levels`, positionOf(text, at));
    if (nodes > DOCUMENT_LIMITS.nodes)
      tooMuch("config.too_complex", `the body holds more than ${DOCUMENT_LIMITS.nodes} values`, positionOf(text, at));
  }
}

/** The documents of a body, or a 400 naming what is wrong and where. */
export function readDocuments(text: string, contentType: string): unknown[] {
  if (/json/i.test(contentType)) {
    checkJsonStructure(text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw invalid("config.unparseable", `the body is not valid JSON: ${(err as Error).message}`, [
        { path: "", message: (err as Error).message },
      ]);
    }
    const documents = Array.isArray(parsed) ? parsed : [parsed];
    if (documents.length > DOCUMENT_LIMITS.documents)
      tooMuch("config.too_complex", `the body holds more than ${DOCUMENT_LIMITS.documents} documents`);
    return documents;
  }
  checkYamlStructure(text);
  const list = parseAllDocuments(text);
  const docs = Array.isArray(list) ? list : [];
  const where = (i: number) => (docs.length > 1 ? `documents[${i}]` : "");
  const issues: Issue[] = docs.flatMap((doc, i) =>
    doc.errors.map((e) => ({
      path: where(i),
      message: `line ${e.linePos?.[0].line ?? "?"}, column ${e.linePos?.[0].col ?? "?"}: ${e.message.split("\n")[0]}`,
    })),
  );
  if (issues.length)
    throw invalid("config.unparseable", `the body is not valid YAML (${issues.length} error(s))`, issues.slice(0, 20));
  return docs
    .map((doc, i) => {
      try {
        return doc.toJS({ maxAliasCount: DOCUMENT_LIMITS.aliases }) as unknown;
      } catch (err) {
        // Aliases are resolved only now: one to an anchor that does not exist, or too many.
        const message = err instanceof Error ? err.message.split("\n")[0]! : "the document cannot be read";
        throw invalid("config.unparseable", `the body is not valid YAML: ${message}`, [{ path: where(i), message }]);
      }
    })
    .filter((d) => d !== null && d !== undefined);
}
