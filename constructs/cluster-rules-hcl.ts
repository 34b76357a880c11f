import { CLUSTER_RULES, ClusterRule, RULE_LOCALS } from './cluster-rules';

/** One Terraform check: a variable's `validation` or a resource's `precondition`. */
export interface HclCheck {
  readonly condition: string;
  readonly errorMessage: string;
}

/** Where the HCL module holds each rule of CLUSTER_RULES, each rule once. */
export interface ModuleChecks {
  /**
   * Rules on one variable, as its `validation` blocks: Terraform checks them at plan, or at apply
   * when the value is unknown until then (and nothing that reads the variable runs before).
   */
  readonly validations: Readonly<Record<string, readonly HclCheck[]>>;
  /** Rules across variables, as preconditions (a validation may read other variables only from Terraform 1.9). */
  readonly preconditions: readonly HclCheck[];
  /** Locals the preconditions read: facts of every node computed once per plan. */
  readonly locals: Readonly<Record<string, string>>;
}

/** An HCL string literal inside an expression: quotes and backslashes escaped, `${`/`%{` kept literal. */
const hclString = (s: string): string => JSON.stringify(s).replace(/\$\{/g, '$$${').replace(/%\{/g, '%%{');

/** The test of one node rule on the node `n`: nodes without the attribute follow it; errors count as broken. */
function follows(rule: ClusterRule): string {
  const attribute = rule.node?.attribute;
  const ok = rule.condition.startsWith('try(') ? rule.condition : `try(${rule.condition}, false)`;
  return attribute === undefined ? ok : `(try(n.${attribute}, null) == null || ${ok})`;
}

/**
 * All rules on the nodes of one list as one validation. Terraform evaluates a message even when its
 * condition holds (and both branches of a conditional), so both must be cheap on a list that follows
 * every rule:
 * - the condition (`fast`) checks the required attributes of all nodes at once (one regular expression
 *   over the joined values), and the other rules only on nodes that have more than name and ip;
 * - the message evaluates `fast` again and walks the nodes rule by rule only when it is false: in a `for`
 *   over an empty list otherwise, which evaluates no body (measured: half the cost of the same test as a
 *   `for` filter, which Terraform 1.11 evaluates more than once). It
 *   names each broken rule with the entries that break it, found among the offending entries only.
 */
function nodeListValidation(list: string, rules: readonly ClusterRule[]): HclCheck {
  const optional = rules.filter((r) => !r.node?.all).map(follows).join(' && ');
  const fast = [...rules.flatMap((r) => (r.node?.all ? [`(${r.node.all('ns')})`] : [])), `alltrue([for n in ns : ${optional} if length(n) > 2])`].join(' && ');
  const nodes = `concat(var.${list}, [])`;
  const every = rules.map(follows).join(' && ');
  const parts = rules.map((rule) => {
    const wrong = `flatten([for b in bad : [for n in [b.n] : "\${b.name}${rule.node?.detail ?? ''}" if !(${follows(rule)})]])`;
    return `[for wrong in [${wrong}] : length(wrong) > 0 ? "\${${hclString(rule.errorMessage)}} Wrong: \${join(", ", wrong)}." : ""][0]`;
  });
  const detailed = `[for bad in [[for i, n in ns : { n = n, name = "${list}[\${i}]" } if !(${every})]] : join(" ", compact([${parts.join(', ')}]))][0]`;
  const notAList = `${rules[0].errorMessage} Wrong: ${list} is not a list.`;
  return {
    condition: `try([for ns in [${nodes}] : ${fast}][0], false)`,
    errorMessage: `\${try([for ns in [${nodes}] : join("", [for x in (try(${fast}, false) ? [] : [1]) : ${detailed}])][0], ${hclString(notAList)})}`,
  };
}

/** Sorts CLUSTER_RULES into the module's validations and preconditions. */
export function moduleChecks(rules: readonly ClusterRule[] = CLUSTER_RULES): ModuleChecks {
  const validations: Record<string, HclCheck[]> = {};
  const add = (variable: string, check: HclCheck) => (validations[variable] ??= []).push(check);
  const lists = [...new Set(rules.flatMap((r) => (r.node ? [r.node.list] : [])))];
  for (const list of lists) add(list, nodeListValidation(list, rules.filter((r) => r.node?.list === list)));
  for (const r of rules) {
    if (!r.node && r.variables.length === 1) add(r.variables[0], { condition: r.condition, errorMessage: r.errorMessage });
  }
  const preconditions = rules.filter((r) => r.variables.length > 1).map((r) => ({ condition: r.condition, errorMessage: r.errorMessage }));
  return { validations, preconditions, locals: RULE_LOCALS };
}
