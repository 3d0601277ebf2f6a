import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".pulumi-state/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Layering (ARCHITECTURE.md, "Layers"): only provider/resources may import @pulumi/pulumi.
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["@pulumi/pulumi", "@pulumi/pulumi/*"], message: "only provider/resources (and examples, scripts) import @pulumi/pulumi" }] },
      ],
    },
  },
  {
    files: ["provider/resources/**", "examples/**", "scripts/**", "test/**", "bench/**", "index.ts"],
    rules: { "no-restricted-imports": "off" },
  },
  {
    // A lower layer never imports a higher one.
    files: ["provider/kernel/**", "provider/transport/**", "schema/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["@pulumi/pulumi", "@pulumi/pulumi/*"], message: "kernel, transport and schema never import @pulumi/pulumi" },
            { group: ["**/reconcile/*", "**/resources/*"], message: "a lower layer never imports a higher one" },
          ],
        },
      ],
    },
  },
  {
    // The operator CLI is a top layer beside resources: it reads through kernel and transport and
    // validates with schema; it never goes through Pulumi or the reconcile layer.
    files: ["cli/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["@pulumi/pulumi", "@pulumi/pulumi/*"], message: "the CLI never imports @pulumi/pulumi" },
            { group: ["**/reconcile/*", "**/resources/*"], message: "the CLI reads the kernel through provider/kernel and provider/transport only" },
          ],
        },
      ],
    },
  },
  {
    files: ["provider/transport/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["@pulumi/pulumi", "@pulumi/pulumi/*"], message: "transport never imports @pulumi/pulumi" },
            { group: ["**/reconcile/*", "**/resources/*", "**/kernel/*"], message: "a lower layer never imports a higher one" },
          ],
        },
      ],
    },
  },
  {
    // Reconcile asks, kernel acts (ARCHITECTURE.md, "Layers"): reconcile/ calls typed operations of
    // kernel/'s host objects and functions; it runs no command, builds no shell and imports no
    // transport value (types only).
    files: ["provider/reconcile/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            { name: "node:child_process", message: "reconcile runs no command: kernel/ does, through a transport" },
            { name: "child_process", message: "reconcile runs no command: kernel/ does, through a transport" },
            { name: "execa", message: "reconcile runs no command: kernel/ does, through a transport" },
          ],
          patterns: [
            { group: ["@pulumi/pulumi", "@pulumi/pulumi/*"], message: "only provider/resources (and examples, scripts) import @pulumi/pulumi" },
            {
              group: ["**/transport/*"],
              allowTypeImports: true,
              message: "reconcile reaches a host through kernel/'s host objects (kernel/connection.ts opens one); only transport types may be imported",
            },
            {
              group: ["**/kernel/*", "**/kernel/**"],
              importNamePattern: "Script$|^shellQuote$|^runTransaction$",
              message: "reconcile builds no shell: ask a kernel/ host object for the operation",
            },
          ],
        },
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.type='MemberExpression'][callee.property.name=/^(run|readFiles|writeFile|stream)$/][callee.object.name='t']",
          message: "reconcile runs no command: ask a kernel/ host object (PrefixHost, NetworkHost, BudgetRecords, …)",
        },
        {
          selector:
            "CallExpression[callee.type='MemberExpression'][callee.property.name=/^(run|readFiles|writeFile|stream)$/][callee.object.property.name='t']",
          message: "reconcile runs no command: ask a kernel/ host object (PrefixHost, NetworkHost, BudgetRecords, …)",
        },
        {
          // whatever the object is called (a wrapped transport, `tests.run([...])`): no shell started from reconcile
          selector:
            "CallExpression[callee.type='MemberExpression'][callee.property.name='run'][arguments.0.type='ArrayExpression'][arguments.0.elements.0.value=/^(sh|bash|dash|\\/bin\\/sh)$/]",
          message:
            "reconcile builds no shell: the script and the command that runs it live in kernel/ (a function taking the transport and returning a typed result)",
        },
      ],
    },
  },
  {
    // One logging path (issue 26, item 6): the provider tells the user things through provider/log.ts
    // only, so every line has one format.
    files: ["provider/**"],
    rules: {
      "no-console": "error",
      "no-restricted-properties": [
        "error",
        { object: "process", property: "stderr", message: "write through provider/log.ts (warn, info)" },
        { object: "process", property: "stdout", message: "write through provider/log.ts (warn, info)" },
      ],
    },
  },
  {
    // The log module is the one place that writes; it sits below every layer and imports none.
    files: ["provider/log.ts"],
    rules: {
      "no-console": "off",
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["./*", "../*", "../**", "@pulumi/pulumi", "@pulumi/pulumi/*"],
              message: "provider/log.ts imports no layer and no Pulumi: every layer imports it",
            },
          ],
        },
      ],
    },
  },
);
