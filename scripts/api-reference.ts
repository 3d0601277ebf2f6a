// Generates docs/API.md, the reference of every resource's inputs and outputs, from the code:
// the zod schemas give each input's type, constraints, default and whether it is required; the
// TypeScript declarations (the Args interfaces and the classes' outputs) give the doc comments.
//   node dist/scripts/api-reference.js [--write]     (npm test checks that docs/API.md is current)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { z } from "zod";
import { containerArgs } from "../schema/container";
import { hostArgs } from "../schema/host";
import { networkArgs } from "../schema/network";
import { placementArgs } from "../schema/placement";
import { backupArgs } from "../schema/backup";
import { resourceLimitsArgs } from "../schema/resource-limits";

/** The repository root, from the source (vitest) or from dist/scripts. */
const root = [join(__dirname, ".."), join(__dirname, "..", "..")].find((d) => {
  try {
    return JSON.parse(readFileSync(join(d, "package.json"), "utf8")).name === "kslice";
  } catch {
    return false;
  }
})!;

/** Custom resources, checked by a schema; component resources (no schema) are read from their declarations alone. */
const resources: { name: string; file: string; schema?: z.ZodType }[] = [
  { name: "Host", file: "provider/resources/host.ts", schema: hostArgs },
  { name: "ResourceLimits", file: "provider/resources/resource-limits.ts", schema: resourceLimitsArgs },
  { name: "Container", file: "provider/resources/container.ts", schema: containerArgs },
  { name: "Network", file: "provider/resources/network.ts", schema: networkArgs },
  { name: "Placement", file: "provider/resources/placement.ts", schema: placementArgs },
  { name: "ContainerSet", file: "provider/resources/container-set.ts" },
  { name: "Backup", file: "provider/resources/backup.ts", schema: backupArgs },
];

/**
 * Defaults a component gives its children other than their own: ContainerSet's replicas are
 * Containers whose `onSourceLost` is "recreate" unless the template says otherwise
 * (provider/resources/container-set.ts), so the reference shows the row with the set's default.
 */
const componentDefaults: Record<string, { path: string; of: { resource: string; path: string }; default: string }[]> = {
  ContainerSet: [{ path: "template.onSourceLost", of: { resource: "Container", path: "onSourceLost" }, default: '"recreate"' }],
};

/** A TypeScript type as a reference cell: pulumi.Input<T> shown as T (every input takes one anyway). */
function tsTypeText(type: ts.Type, checker: ts.TypeChecker): string {
  return checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation).replace(/\bInput<([^<>]*)>/g, "$1");
}

interface Doc {
  text: string;
  default?: string;
  optional?: boolean;
}
type JsonSchema = { [k: string]: unknown };

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, " ").trim();
const cell = (s: string) => s.replace(/\|/g, "\\|");

function docOf(sym: ts.Symbol, checker: ts.TypeChecker): Doc {
  const def = sym.getJsDocTags(checker).find((t) => t.name === "default");
  return {
    text: oneLine(ts.displayPartsToString(sym.getDocumentationComment(checker))),
    default: def ? oneLine(ts.displayPartsToString(def.text)) : undefined,
  };
}

/** The value types behind pulumi.Input<T>, arrays and unions: the object types whose fields are documented. */
function objectTypes(type: ts.Type, checker: ts.TypeChecker): ts.Type[] {
  if (type.isUnion()) return type.types.flatMap((t) => objectTypes(t, checker));
  if (type.isIntersection()) return []; // pulumi.Output<T> = OutputInstance<T> & Lifted<T>: T is listed beside it
  const name = type.getSymbol()?.getName();
  if (name === "Promise" || name === "OutputInstance") return [];
  if (checker.isArrayType(type)) return objectTypes(checker.getTypeArguments(type as ts.TypeReference)[0]!, checker);
  if (!(type.flags & ts.TypeFlags.Object) || type.getCallSignatures().length > 0) return [];
  if (name === "Host" || name === "ResourceLimits" || name === "Network") return []; // resources given as such
  return [type];
}

/** Doc comments of every input path ("limits.memory.max", "mounts[].target") of an Args type. */
function inputDocs(type: ts.Type, checker: ts.TypeChecker, prefix = "", out = new Map<string, Doc>(), depth = 0): Map<string, Doc> {
  if (depth > 6) return out;
  for (const t of objectTypes(type, checker)) {
    for (const prop of t.getProperties()) {
      const decl = prop.valueDeclaration ?? prop.declarations?.[0];
      if (!decl) continue;
      const path = `${prefix}${prop.getName()}`;
      const doc = { ...docOf(prop, checker), optional: (prop.flags & ts.SymbolFlags.Optional) !== 0 };
      const prev = out.get(path);
      if (!prev || (!prev.text && doc.text)) out.set(path, doc);
      const propType = checker.getTypeOfSymbolAtLocation(prop, decl);
      const nonNull = checker.getNonNullableType(propType);
      const isArray = objectTypes(nonNull, checker).length > 0 && unionHasArray(nonNull, checker);
      inputDocs(nonNull, checker, `${path}${isArray ? "[]" : ""}.`, out, depth + 1);
    }
  }
  return out;
}

function unionHasArray(type: ts.Type, checker: ts.TypeChecker): boolean {
  if (type.isUnion()) return type.types.some((t) => unionHasArray(t, checker));
  return checker.isArrayType(type);
}

/** A short type from JSON Schema: enums and consts spelled out, bounds and patterns shown. */
function typeOf(s: JsonSchema): string {
  if (s.anyOf) return [...new Set((s.anyOf as JsonSchema[]).map(typeOf))].join(" | ");
  if ("const" in s) return JSON.stringify(s.const);
  if (s.enum) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(" | ");
  const bounds = [
    s.minimum !== undefined && s.minimum !== Number.MIN_SAFE_INTEGER ? `≥ ${s.minimum}` : s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : "",
    s.maximum !== undefined && s.maximum !== Number.MAX_SAFE_INTEGER ? `≤ ${s.maximum}` : "",
    s.minLength !== undefined && s.minLength !== 1 ? `length ≥ ${s.minLength}` : "",
    s.maxLength !== undefined ? `length ≤ ${s.maxLength}` : "",
  ].filter(Boolean);
  let t: string;
  if (s.type === "array") t = `${typeOf((s.items ?? {}) as JsonSchema)}[]`;
  else if (s.type === "object" && !s.properties && s.additionalProperties) t = `{ [name]: ${typeOf(s.additionalProperties as JsonSchema)} }`;
  else if (s.type === "object") t = "object";
  else t = (s.type as string | undefined) ?? "any";
  if (s.pattern) t += ` matching \`${s.pattern}\``;
  return bounds.length ? `${t} (${bounds.join(", ")})` : t;
}

interface Row {
  path: string;
  type: string;
  required: boolean;
  default?: string;
  only?: string;
}

/** Every field of an input schema, depth first, objects before their fields; required within its parent. */
function rows(s: JsonSchema, prefix = "", out: Row[] = []): Row[] {
  const variants = (s.anyOf as JsonSchema[] | undefined)?.filter((v) => v.type === "object" && v.properties);
  const objects = s.type === "object" && s.properties ? [s] : variants?.length ? variants : [];
  // variants told apart by a constant field ({ type: "ssh", … }): a field of one variant says so
  const tag =
    objects.length > 1
      ? Object.keys(objects[0]!.properties as object).find((k) => objects.every((o) => "const" in ((o.properties as Record<string, JsonSchema>)[k] ?? {})))
      : undefined;
  const seen = new Map<string, Row>();
  for (const o of objects) {
    const req = new Set((o.required as string[] | undefined) ?? []);
    const props = o.properties as Record<string, JsonSchema>;
    const only = tag ? `${tag}: ${JSON.stringify(props[tag]!.const)}` : undefined;
    for (const [key, sub] of Object.entries(props)) {
      const path = `${prefix}${key}`;
      const prev = seen.get(path);
      if (prev) {
        if (key === tag) prev.type = `${prev.type} | ${typeOf(sub)}`;
        else prev.only = undefined; // in more than one variant
        continue;
      }
      const isArray = sub.type === "array";
      const inner = isArray ? ((sub.items ?? {}) as JsonSchema) : sub;
      const row: Row = {
        path,
        type: typeOf(sub),
        required: req.has(key) && !("default" in sub),
        default: "default" in sub ? JSON.stringify(sub.default) : undefined,
        only: key === tag ? undefined : only,
      };
      seen.set(path, row);
      out.push(row);
      rows(inner, `${path}${isArray ? "[]" : ""}.`, out);
    }
  }
  return out;
}

export function generate(): string {
  const program = ts.createProgram([join(root, "index.ts")], {
    strict: true,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const parts = [
    "# API reference",
    "",
    "Generated from the zod schemas (`schema/`: types, bounds, defaults, what is required) and the TypeScript declarations (`provider/resources/`: descriptions and outputs) by `scripts/api-reference.ts`; do not edit by hand. `npm run api-docs` rewrites it and `npm test` fails when it is out of date.",
    "",
    'Every input also takes a `pulumi.Input` (an Output, a secret, a promise) at every level. Types are those `check` accepts; `host` is a `Host` or its `{ connection, prefix }`, `parent` a `ResourceLimits` or its path, `networks[].network` a `Network`, its `ref` or a network\'s name. "Required" is within the enclosing object: `ports[].hostPort` is required in each port given.',
  ];
  for (const r of resources) {
    const source = program.getSourceFile(join(root, r.file))!;
    let cls: ts.ClassDeclaration | undefined;
    source.forEachChild((n) => {
      if (ts.isClassDeclaration(n) && n.name?.text === r.name) cls = n;
    });
    if (!cls) throw new Error(`class ${r.name} not found in ${r.file}`);
    const classSym = checker.getSymbolAtLocation(cls.name!)!;
    const ctor = cls.members.find(ts.isConstructorDeclaration)!;
    const argsType = checker.getTypeAtLocation(ctor.parameters[1]!);
    const docs = inputDocs(argsType, checker);
    parts.push(
      "",
      `## ${r.name}`,
      "",
      docOf(classSym, checker).text,
      "",
      "### Inputs",
      "",
      "| input | type | required | default | description |",
      "|---|---|---|---|---|",
    );
    if (!r.schema) {
      // a component resource: its Args interface's own fields (nested declarations are named there)
      parts.push(...componentInputs(argsType, checker, docs, r.name));
      parts.push(
        "",
        "### Outputs",
        "",
        "A component resource: its inputs are not stored; these are its properties.",
        "",
        "| output | type | description |",
        "|---|---|---|",
      );
      parts.push(...outputRows(cls, source, checker));
      continue;
    }
    const schema = z.toJSONSchema(r.schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
    for (const row of rows(schema)) {
      // a resource on a host takes the Host (or what its ref holds): the fields are the Host's
      if (r.name !== "Host" && row.path.startsWith("host.")) continue;
      const doc = docs.get(row.path);
      const def = row.default ?? doc?.default ?? "";
      const required = row.required && !doc?.optional ? (row.only ? `with ${row.only}` : "yes") : "";
      const type = row.path === "host" ? "Host | { connection, prefix } (see Host)" : row.type;
      parts.push(`| \`${row.path}\` | ${cell(type)} | ${cell(required)} | ${cell(def)} | ${cell(doc?.text ?? "")} |`);
    }
    parts.push(
      "",
      "### Outputs",
      "",
      "Besides the inputs, as stored (the engine keeps them in the outputs):",
      "",
      "| output | type | description |",
      "|---|---|---|",
    );
    parts.push(...outputRows(cls, source, checker));
  }
  return `${parts.join("\n")}\n`;
}

/** One row per property the class declares: its type (the value inside pulumi.Output) and doc comment. */
function outputRows(cls: ts.ClassDeclaration, source: ts.SourceFile, checker: ts.TypeChecker): string[] {
  const out: string[] = [];
  for (const m of cls.members) {
    if (!ts.isPropertyDeclaration(m) || !ts.isIdentifier(m.name)) continue;
    const sym = checker.getSymbolAtLocation(m.name)!;
    const text = m.type
      ? m.type
          .getText(source)
          .replace(/^pulumi\.Output<(.*)>$/s, "$1")
          .replace(/pulumi\.Unwrap<(.*)>/s, "$1")
      : "";
    out.push(`| \`${m.name.text}\` | \`${cell(oneLine(text))}\` | ${cell(docOf(sym, checker).text)} |`);
  }
  return out;
}

/** A component's input rows from its Args interface: top-level fields, and the defaults it gives its children. */
function componentInputs(argsType: ts.Type, checker: ts.TypeChecker, docs: Map<string, Doc>, name: string): string[] {
  const out: string[] = [];
  for (const prop of argsType.getProperties()) {
    const decl = prop.valueDeclaration ?? prop.declarations?.[0];
    if (!decl) continue;
    const doc = docs.get(prop.getName());
    const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0;
    const type = tsTypeText(checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(prop, decl)), checker);
    out.push(`| \`${prop.getName()}\` | ${cell(type)} | ${optional ? "" : "yes"} | ${cell(doc?.default ?? "")} | ${cell(doc?.text ?? "")} |`);
  }
  for (const d of componentDefaults[name] ?? []) {
    const of = resources.find((r) => r.name === d.of.resource)!;
    const row = rows(z.toJSONSchema(of.schema!, { io: "input", unrepresentable: "any" }) as JsonSchema).find((x) => x.path === d.of.path)!;
    out.push(
      `| \`${d.path}\` | ${cell(row.type)} |  | ${cell(d.default)} | as ${d.of.resource}'s \`${d.of.path}\` (default there ${cell(row.default ?? "none")}); this is the default inside a ${name} |`,
    );
  }
  return out;
}

export const referenceFile = join(root, "docs", "API.md");

if (require.main === module) {
  const text = generate();
  if (process.argv.includes("--write")) writeFileSync(referenceFile, text);
  else process.stdout.write(text);
}
