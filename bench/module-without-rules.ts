/**
 * A copy of the HCL module without its input rules (every `validation` and `precondition` block
 * removed), so that the bench can say what the rules cost: the same plan, minus the checks that give
 * a user a clear error for a bad input. Used only to measure; never shipped.
 */
import * as fs from 'fs';
import * as path from 'path';

/**
 * `text` without the blocks named `keyword`. A block ends at its matching brace; braces inside quoted
 * strings do not count, but those of `${...}` and `%{...}` inside strings do, and such an expression
 * may hold strings of its own (the module's rules nest them). The module has no heredocs.
 */
export function withoutBlocks(text: string, keyword: string): string {
  const start = new RegExp(`^[ \\t]*${keyword}[ \\t]*\\{`, 'gm');
  let out = '';
  let from = 0;
  for (let m = start.exec(text); m; m = start.exec(text)) {
    out += text.slice(from, m.index);
    const end = blockEnd(text, m.index + m[0].length);
    from = end;
    start.lastIndex = end;
  }
  return out + text.slice(from);
}

/** The index just past the brace that closes a block whose body starts at `i`. */
function blockEnd(text: string, i: number): number {
  // A stack of frames: a string, or code with its open-brace count (the block body is code).
  const frames: Array<{ string: boolean; depth: number }> = [{ string: false, depth: 1 }];
  for (; i < text.length; i++) {
    const c = text[i];
    const top = frames[frames.length - 1];
    if (top.string) {
      if (c === '\\') i++;
      else if (c === '"') frames.pop();
      else if ((c === '$' || c === '%') && text[i + 1] === '{') {
        frames.push({ string: false, depth: 1 });
        i++;
      }
    } else if (c === '"') frames.push({ string: true, depth: 0 });
    else if (c === '{') top.depth++;
    else if (c === '}' && --top.depth === 0) {
      frames.pop();
      if (frames.length === 0) return i + 1;
    }
  }
  throw new Error('bench: a block without its closing brace');
}

/** Copies `module` to `dir` with its rules removed; returns how many blocks went. */
export function writeModuleWithoutRules(module: string, dir: string): number {
  fs.cpSync(module, dir, { recursive: true });
  let removed = 0;
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.tf'))) {
    const file = path.join(dir, f);
    const text = fs.readFileSync(file, 'utf8');
    const stripped = withoutBlocks(withoutBlocks(text, 'validation'), 'precondition');
    removed += (text.match(/^[ \t]*(validation|precondition)[ \t]*\{/gm) ?? []).length;
    fs.writeFileSync(file, stripped);
  }
  if (removed === 0) throw new Error(`bench: no rule found in ${module}`);
  return removed;
}
