/**
 * Every value a user gives must reach Terraform as data, never as code. Strings in Terraform JSON are
 * templates: `${...}` and `%{...}` in them are evaluated (a host key comment of
 * `${file("/etc/shadow")}` would read that file into the plan). cdktf adds two more readers of the
 * same strings: it replaces `${TfToken[...]}`, `#{TfToken[...]}` and `&{TfToken[...]}` with other
 * values of the app. These helpers write a value so that both read it back unchanged.
 */

/** Breaks cdktf's token markers (`${`, `#{` or `&{` followed by `TfToken[`) with an empty interpolation. */
const TOKEN_MARKER = /\{TfToken\[/g;

/** One string as a Terraform JSON template whose result is the string itself. */
function literalString(s: string): string {
  return (
    s
      // Terraform's own escapes: `$${` reads as `${`, `%%{` as `%{`.
      .replace(/\$\{/g, '$$${')
      .replace(/%\{/g, '%%{')
      // `${""}` evaluates to nothing, but splits the marker so cdktf does not see a token.
      .replace(TOKEN_MARKER, '{${""}TfToken[')
  );
}

/**
 * A value (string, or any JSON structure of them) for a place in the synthesized JSON that Terraform
 * reads as a template, such as a local or a resource argument: every string in it reads back literally.
 */
export function terraformLiteral<T>(value: T): T {
  if (typeof value === 'string') return literalString(value) as T;
  if (Array.isArray(value)) return value.map((v) => terraformLiteral(v)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, terraformLiteral(v)])) as T;
  }
  return value;
}

/** A quoted HCL string literal for use inside an expression (`${file(<here>)}`), read back literally. */
export function terraformStringLiteral(s: string): string {
  const quoted = JSON.stringify(s); // escapes quotes, backslashes and control characters as HCL does
  return quoted.replace(/\$\{/g, '$$${').replace(/%\{/g, '%%{').replace(TOKEN_MARKER, '{${""}TfToken[');
}
