import { CLUSTER_RULES, ClusterRule, moduleChecks } from '../../constructs';

/**
 * How many expressions Terraform evaluates for an HCL expression when the description has `nodes`
 * nodes, counted from its structure (not timed): a `for` over a list of nodes evaluates its body once per
 * node, a function given a list of nodes (join, contains, flatten, ...) touches every element, and
 * anything else counts one. A one-element list `[x]` (how the module binds a name to a value), or `(c ? [] : [1])`, counts once. A list is "of nodes" when it is read from the node variables, from the
 * locals the rules share (`local.rule_node*`), or from the names the module binds to such lists (`ns`,
 * `bad`, `wrong`); a `for` over anything else (one node's labels, `[b.n]`) counts as a constant.
 */
export function expressionCount(text: string, nodes: number): number {
  let count = 0;
  let i = 0;
  while (i < text.length) {
    const forMatch = /^[[{]\s*for\s/.exec(text.slice(i));
    if (forMatch) {
      const end = matching(text, i);
      count += forCount(text.slice(i + forMatch[0].length, end), nodes);
      i = end + 1;
      continue;
    }
    const call = /^([a-z_]+)\(/.exec(text.slice(i));
    if (call && (i === 0 || !/[\w.]/.test(text[i - 1]))) {
      const end = matching(text, i + call[1].length);
      const args = text.slice(i + call[1].length + 1, end);
      count += 1 + expressionCount(args, nodes) + (LINEAR_FUNCTIONS.has(call[1]) && ofNodes(args) ? nodes : 0);
      i = end + 1;
      continue;
    }
    if (text[i] === '"') {
      const end = stringEnd(text, i);
      count += 1 + interpolations(text.slice(i + 1, end - 1)).reduce((sum, x) => sum + expressionCount(x, nodes), 0);
      i = end;
      continue;
    }
    i++;
  }
  return count;
}

/** Functions whose work grows with the length of the list (or string) they are given. */
const LINEAR_FUNCTIONS = new Set(['alltrue', 'anytrue', 'compact', 'concat', 'contains', 'distinct', 'flatten', 'index', 'join', 'keys', 'regex', 'setsubtract', 'setunion', 'toset', 'tolist', 'values', 'merge', 'sort']);
const ofNodes = (text: string): boolean => /var\.(control_plane|workers)\b(?!\[)|local\.rule_node|\bns\b|\bbad\b|\bwrong\b/.test(text);

/** `vars in collection : body [if condition]` of a `for`: the body (and condition) once per element. */
function forCount(inner: string, nodes: number): number {
  const inAt = topLevel(inner, ' in ');
  const colonAt = topLevel(inner, ' : ', inAt);
  const collection = inner.slice(inAt + 4, colonAt);
  const rest = inner.slice(colonAt + 3);
  const times = ofNodes(collection) && !isOneElement(collection) ? nodes : 1;
  return expressionCount(collection, nodes) + times * (1 + expressionCount(rest, nodes));
}

/** `[x]`: a `for` over it binds a name to one value (the module's way to compute a value once in an expression). */
function isOneElement(collection: string): boolean {
  const c = collection.trim();
  // `(condition ? [] : [1])`: at most one element, whatever the condition reads.
  if (/^\(.* \? \[\] : \[1\]\)$/s.test(c)) return true;
  if (!c.startsWith('[') || matching(c, 0) !== c.length - 1) return false;
  try {
    topLevel(c.slice(1, -1), ',');
    return false;
  } catch {
    return true;
  }
}

/** Index of the bracket closing the one at `open` (strings skipped). */
function matching(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"') i = stringEnd(text, i) - 1;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c) && --depth === 0) return i;
  }
  throw new Error(`unbalanced: ${text.slice(open, open + 80)}`);
}

/** The expressions interpolated into a string literal's text. */
function interpolations(inner: string): string[] {
  const found: string[] = [];
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === '\\') i++;
    else if (inner[i] === '$' && inner[i + 1] === '{') {
      const end = matching(inner, i + 1);
      found.push(inner.slice(i + 2, end));
      i = end;
    }
  }
  return found;
}

/** Index after the string literal starting at `start`, template interpolations included. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '$' && text[i + 1] === '{') i = matching(text, i + 1);
    else if (text[i] === '"') return i + 1;
  }
  throw new Error(`unterminated string: ${text.slice(start, start + 80)}`);
}

/** First index of `token` outside brackets and strings, from `from`. */
function topLevel(text: string, token: string, from = 0): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '"') i = stringEnd(text, i) - 1;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (depth === 0 && text.startsWith(token, i)) return i;
  }
  throw new Error(`no "${token}" in: ${text.slice(0, 80)}`);
}

/** Growth of the count from 100 to 1000 nodes: 10 for linear, 100 for quadratic. */
const growth = (text: string) => (1 + expressionCount(text, 1000)) / (1 + expressionCount(text, 100));

describe('the cost of the module rules in the number of nodes', () => {
  const checks = moduleChecks();
  const named: [string, string][] = [
    ...Object.entries(checks.validations).flatMap(([v, list]) => list.flatMap((c, i) => [[`validation ${i} of ${v}: condition`, c.condition], [`validation ${i} of ${v}: message`, c.errorMessage]] as [string, string][])),
    ...checks.preconditions.flatMap((c, i) => [[`precondition ${i}: condition`, c.condition], [`precondition ${i}: message`, c.errorMessage]] as [string, string][]),
    ...Object.entries(checks.locals).map(([k, v]) => [`local.${k}`, v] as [string, string]),
  ];

  test.each(named)('given %s, when the cluster grows tenfold, then its expression count grows at most tenfold', (_name, text) => {
    expect(growth(text)).toBeLessThanOrEqual(10.01);
  });

  test('given a rule that compares every node with every other, then the count says it grows quadratically', () => {
    const pairwise = '[for a in var.workers : [for b in var.workers : a.name if a.ip == b.ip]]';
    expect(growth(pairwise)).toBeGreaterThan(50);
    expect(growth('[for n in var.workers : contains(local.rule_node_ips, n.ip)]')).toBeGreaterThan(50);
    expect(growth('[for n in var.workers : n.name]')).toBeCloseTo(10, 0);
  });

  test('given the rules on the nodes of a list, then each list has one validation holding all of them', () => {
    const nodeRules = (list: string): ClusterRule[] => CLUSTER_RULES.filter((r) => r.node?.list === list);
    for (const list of ['control_plane', 'workers']) {
      expect(nodeRules(list).length).toBeGreaterThan(10);
      const merged = checks.validations[list].filter((c) => nodeRules(list).every((r) => c.errorMessage.includes(JSON.stringify(r.errorMessage).slice(1, -1))));
      expect(merged).toHaveLength(1);
    }
  });

  test('given the rules, then each is checked once: a rule on one variable only as its validation, a rule across variables only as a precondition', () => {
    const single = CLUSTER_RULES.filter((r) => r.variables.length === 1 && !r.node);
    const across = CLUSTER_RULES.filter((r) => r.variables.length > 1);
    expect(checks.preconditions.map((c) => c.condition)).toEqual(across.map((r) => r.condition));
    for (const r of single) expect(checks.validations[r.variables[0]].filter((c) => c.condition === r.condition)).toHaveLength(1);
  });
});
