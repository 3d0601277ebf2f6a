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
      "no-restricted-imports": ["error", { patterns: [{ group: ["@pulumi/pulumi", "@pulumi/pulumi/*"], message: "only provider/resources (and examples, scripts) import @pulumi/pulumi" }] }],
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
      "no-restricted-imports": ["error", { patterns: [
        { group: ["@pulumi/pulumi", "@pulumi/pulumi/*"], message: "kernel, transport and schema never import @pulumi/pulumi" },
        { group: ["**/reconcile/*", "**/resources/*"], message: "a lower layer never imports a higher one" },
      ] }],
    },
  },
  {
    // The operator CLI is a top layer beside resources: it reads through kernel and transport and
    // validates with schema; it never goes through Pulumi or the reconcile layer.
    files: ["cli/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["@pulumi/pulumi", "@pulumi/pulumi/*"], message: "the CLI never imports @pulumi/pulumi" },
        { group: ["**/reconcile/*", "**/resources/*"], message: "the CLI reads the kernel through provider/kernel and provider/transport only" },
      ] }],
    },
  },
  {
    files: ["provider/transport/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [
        { group: ["@pulumi/pulumi", "@pulumi/pulumi/*"], message: "transport never imports @pulumi/pulumi" },
        { group: ["**/reconcile/*", "**/resources/*", "**/kernel/*"], message: "a lower layer never imports a higher one" },
      ] }],
    },
  },
);
